import Crypto
import Foundation

/// What a calling application's API key allows.
public enum ClientScope: String, Sendable, Codable, CaseIterable {
  /// Verification and the login flow only.
  case verify
  /// Everything: users, enrolment, factor management, the audit log.
  case admin
}

/// An application allowed to call the verifier service, as stored (the key itself is never stored).
public struct ClientKeyRecord: Sendable, Equatable {
  public var name: String
  public var scope: ClientScope
  public var createdAt: Int64
  /// Revoked keys are kept, so a revocation is visible and a name is never silently reused.
  public var revokedAt: Int64?
  public init(name: String, scope: ClientScope, createdAt: Int64, revokedAt: Int64? = nil) {
    self.name = name
    self.scope = scope
    self.createdAt = createdAt
    self.revokedAt = revokedAt
  }
}

/// Where API keys are kept: by the SHA-256 of the key, which is 256 random bits, so the hash alone
/// neither reveals nor lets anyone rebuild the key.
public protocol ClientKeyStore: Sendable {
  /// Stores a new key; a name in use (even revoked) is a conflict.
  func insertClientKey(name: String, scope: ClientScope, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  /// The key with this hash, revoked or not.
  func clientKey(hash: [UInt8]) throws(StoreError) -> ClientKeyRecord?
  /// Marks a live key revoked; false if there is no live key of that name.
  func revokeClientKey(name: String, at: Int64, audit: AuditEntry) throws(StoreError) -> Bool
  func clientKeys() throws(StoreError) -> [ClientKeyRecord]
}

/// Issues and checks the API keys of the applications that call the verifier service.
public struct ClientKeys: Sendable {
  public let store: any ClientKeyStore
  public let clock: any VerifierClock

  public init(store: any ClientKeyStore, clock: any VerifierClock = SystemClock()) {
    self.store = store
    self.clock = clock
  }

  /// The prefix that makes a key recognisable in a configuration file or a leak scanner.
  public static let prefix = "otk_"

  /// A new key for the application `name`: shown once, stored only as its hash.
  public func issue(name: String, scope: ClientScope) throws(VerifierError) -> String {
    guard Self.isValidName(name) else {
      throw .invalidInput("a client name is 1 to 64 letters, digits, '.', '_' or '-'")
    }
    var generator = SystemRandomNumberGenerator()
    let random = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    let key = Self.prefix + random.map { String(format: "%02x", $0) }.joined()
    let now = clock.nowMilliseconds()
    try storeCall { () throws(StoreError) in
      try store.insertClientKey(
        name: name, scope: scope, hash: Self.hash(key), at: now,
        audit: AuditEntry(
          at: now, user: nil, factor: nil, action: "client-key-add", result: "done", reason: scope.rawValue,
          source: name))
    }
    return key
  }

  /// The live key presented, or nil (unknown, malformed or revoked).
  public func authenticate(_ presented: String) throws(VerifierError) -> ClientKeyRecord? {
    guard presented.hasPrefix(Self.prefix), presented.utf8.count == Self.prefix.utf8.count + 64 else {
      return nil
    }
    let record = try storeCall { () throws(StoreError) in try store.clientKey(hash: Self.hash(presented)) }
    guard let record, record.revokedAt == nil else { return nil }
    return record
  }

  /// Revokes the key of `name`; it is refused from then on.
  public func revoke(name: String) throws(VerifierError) {
    let now = clock.nowMilliseconds()
    let revoked = try storeCall { () throws(StoreError) in
      try store.revokeClientKey(
        name: name, at: now,
        audit: AuditEntry(
          at: now, user: nil, factor: nil, action: "client-key-revoke", result: "done", reason: "revoked",
          source: name))
    }
    guard revoked else { throw .notFound("a live API key named \(name)") }
  }

  public func list() throws(VerifierError) -> [ClientKeyRecord] {
    try storeCall { () throws(StoreError) in try store.clientKeys() }
  }

  static func hash(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Data(key.utf8))) }

  static func isValidName(_ name: String) -> Bool {
    (1...64).contains(name.utf8.count)
      && name.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
          || "._-".unicodeScalars
            .contains($0)
      }
  }
}
