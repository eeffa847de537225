import Foundation
import Synchronization

/// Token buckets by key (a user, a client address): `rate` requests a second on average, bursts
/// of up to `burst`. In this process's memory, so each node limits on its own; the verifier's
/// stored throttling of failures is what holds across nodes. The table is bounded: when full,
/// buckets that have refilled completely (indistinguishable from new ones) are dropped first.
public final class RateLimiter: Sendable {
  public let rate: Double
  public let burst: Double
  private let capacity: Int
  private let now: @Sendable () -> Double
  private let buckets = Mutex<[String: (tokens: Double, at: Double)]>([:])

  /// `rate` 0 turns the limit off. `now` gives seconds on a monotonic clock (tests inject one).
  public init(
    rate: Double, burst: Double, capacity: Int = 100_000,
    now: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
  ) {
    self.rate = rate
    self.burst = max(1, burst)
    self.capacity = capacity
    self.now = now
  }

  /// Takes one token for `key`: nil if allowed, else the seconds until one is available.
  public func take(_ key: String) -> Double? {
    guard rate > 0 else { return nil }
    let time = now()
    return buckets.withLock { table -> Double? in
      var bucket = table[key] ?? (tokens: burst, at: time)
      bucket.tokens = min(burst, bucket.tokens + (time - bucket.at) * rate)
      bucket.at = time
      defer {
        if table.count >= capacity && table[key] == nil { evict(&table, at: time) }
        table[key] = bucket
      }
      guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / rate }
      bucket.tokens -= 1
      return nil
    }
  }

  private func evict(_ table: inout [String: (tokens: Double, at: Double)], at time: Double) {
    table = table.filter { min(burst, $0.value.tokens + (time - $0.value.at) * rate) < burst }
    if table.count >= capacity { table.removeAll(keepingCapacity: true) }
  }
}
