import Crypto
import Foundation
import Synchronization
import Verifier

/// Live API keys recently checked against the store, so a busy client is not looked up on every
/// request. Entries expire after `seconds`: a revoked key is refused by every node within that
/// time (0 turns the cache off, and revocation is immediate). Unknown keys are never cached, and
/// entries are keyed by the key's SHA-256, so the cache holds no key.
final class KeyCache: Sendable {
  private let seconds: Double
  private let now: @Sendable () -> Double
  private let entries = Mutex<[[UInt8]: (client: ClientKeyRecord, expires: Double)]>([:])
  private static let capacity = 10_000

  init(seconds: Double, now: @escaping @Sendable () -> Double) {
    self.seconds = seconds
    self.now = now
  }

  func lookUp(_ key: String) -> ClientKeyRecord? {
    guard seconds > 0 else { return nil }
    let hash = Array(SHA256.hash(data: Data(key.utf8)))
    let time = now()
    return entries.withLock { table in
      guard let entry = table[hash] else { return nil }
      guard entry.expires > time else {
        table[hash] = nil
        return nil
      }
      return entry.client
    }
  }

  func store(_ key: String, _ client: ClientKeyRecord) {
    guard seconds > 0 else { return }
    let hash = Array(SHA256.hash(data: Data(key.utf8)))
    let expires = now() + seconds
    entries.withLock { table in
      if table.count >= Self.capacity { table.removeAll(keepingCapacity: true) }
      table[hash] = (client, expires)
    }
  }
}
