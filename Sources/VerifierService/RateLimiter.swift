import Crypto
import Foundation
import Synchronization

/// Token buckets by key (a user, a client address): `rate` requests a second on average, bursts
/// of up to `burst`. In this process's memory, so each node limits on its own; the verifier's
/// stored throttling of failures is what holds across nodes.
///
/// The memory is bounded whatever keys arrive: a key is kept as 16 bytes of its SHA-256 under a
/// per-process salt (so a long name costs what a short one does, and nobody can aim collisions),
/// and the table holds at most `capacity` buckets; when full, buckets that have refilled completely
/// (indistinguishable from new ones) are dropped first. With the default capacity that is 100,000
/// entries of 40 bytes plus the dictionary's overhead: a few megabytes.
public final class RateLimiter: Sendable {
  /// A key as the table holds it.
  struct Key: Hashable {
    let high: UInt64
    let low: UInt64
  }

  public let rate: Double
  public let burst: Double
  let capacity: Int
  private let now: @Sendable () -> Double
  private let salt = SymmetricKey(size: .bits128)
  private let buckets = Mutex<[Key: (tokens: Double, at: Double)]>([:])

  /// How many buckets the table holds now.
  var count: Int { buckets.withLock { $0.count } }

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
  public func take(_ name: String) -> Double? {
    guard rate > 0 else { return nil }
    let key = digest(name)
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

  func digest(_ name: String) -> Key {
    let mac = HMAC<SHA256>.authenticationCode(for: Data(name.utf8), using: salt)
    return mac.withUnsafeBytes { bytes in
      Key(
        high: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
        low: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }
  }

  private func evict(_ table: inout [Key: (tokens: Double, at: Double)], at time: Double) {
    table = table.filter { min(burst, $0.value.tokens + (time - $0.value.at) * rate) < burst }
    if table.count >= capacity { table.removeAll(keepingCapacity: true) }
  }
}
