import OneTimePassword

/// A user of the verifier.
public struct UserRecord: Sendable, Equatable, Codable {
  public var id: Int64
  public var name: String
  public init(id: Int64, name: String) {
    self.id = id
    self.name = name
  }
}

/// The decision state of one HOTP factor: everything a verification may change, moved as one by
/// a compare-and-set on ``version``.
public struct HOTPState: Sendable, Equatable, Codable {
  /// The highest counter a token may start from: 2^62, beyond any token's life, low enough that
  /// every window above it stays inside what the stores hold (signed 64 bits) without overflow.
  public static let maximumCounter: UInt64 = 1 << 62

  /// The counter the token is expected to use next.
  public var nextCounter: UInt64
  /// Consecutive failures.
  public var failures: Int
  /// Attempts are refused unevaluated until this time (milliseconds since 1970), if set.
  public var throttledUntil: Int64?
  /// Locked until an administrator unlocks the factor.
  public var hardLocked: Bool
  /// The last code that missed the look-ahead window, kept for an auto-resync by the next code:
  /// its value masked with a value derived from the token's secret and the expiry, so the store
  /// never holds a code that may be valid further on.
  public var pendingMiss: UInt64?
  /// When the remembered miss expires (milliseconds since 1970).
  public var pendingMissExpiry: Int64?
  /// Incremented by every change; the compare-and-set compares it.
  public var version: Int64

  public init(
    nextCounter: UInt64, failures: Int = 0, throttledUntil: Int64? = nil, hardLocked: Bool = false,
    pendingMiss: UInt64? = nil, pendingMissExpiry: Int64? = nil, version: Int64 = 0
  ) {
    self.nextCounter = nextCounter
    self.failures = failures
    self.throttledUntil = throttledUntil
    self.hardLocked = hardLocked
    self.pendingMiss = pendingMiss
    self.pendingMissExpiry = pendingMissExpiry
    self.version = version
  }
}

/// A hardware HOTP token known to the verifier, with its secret sealed.
public struct HOTPFactorRecord: Sendable, Equatable {
  public var id: Int64
  /// The owner; nil while an imported token waits to be assigned.
  public var userID: Int64?
  /// The token's serial (unique).
  public var serial: String
  public var digits: Int
  public var algorithm: HashAlgorithm
  /// The secret, sealed with AES-GCM under the master key named by its key id.
  public var sealedSecret: SealedSecret
  /// Whether the factor counts (registration confirmed by a press).
  public var active: Bool
  public var state: HOTPState

  public init(
    id: Int64, userID: Int64?, serial: String, digits: Int, algorithm: HashAlgorithm,
    sealedSecret: SealedSecret, active: Bool, state: HOTPState
  ) {
    self.id = id
    self.userID = userID
    self.serial = serial
    self.digits = digits
    self.algorithm = algorithm
    self.sealedSecret = sealedSecret
    self.active = active
    self.state = state
  }
}

/// A factor to be stored.
public struct NewHOTPFactor: Sendable {
  public var userID: Int64?
  public var serial: String
  public var digits: Int
  public var algorithm: HashAlgorithm
  public var sealedSecret: SealedSecret
  public var counter: UInt64
  public var active: Bool

  public init(
    userID: Int64?, serial: String, digits: Int, algorithm: HashAlgorithm, sealedSecret: SealedSecret,
    counter: UInt64, active: Bool
  ) {
    self.userID = userID
    self.serial = serial
    self.digits = digits
    self.algorithm = algorithm
    self.sealedSecret = sealedSecret
    self.counter = counter
    self.active = active
  }
}

/// One line of the append-only audit log. Never a secret, never a whole code.
public struct AuditEntry: Sendable, Equatable, Codable {
  /// Milliseconds since 1970.
  public var at: Int64
  public var user: String?
  /// The factor, as "hotp:SERIAL".
  public var factor: String?
  /// What was asked: verify, resync, register, import, unlock, remove, assign.
  public var action: String
  /// accepted or refused (or done, for administrative actions).
  public var result: String
  public var reason: String
  public var counterBefore: UInt64?
  public var counterAfter: UInt64?
  /// Who asked (a client name or address).
  public var source: String?

  public init(
    at: Int64, user: String?, factor: String?, action: String, result: String, reason: String,
    counterBefore: UInt64? = nil, counterAfter: UInt64? = nil, source: String? = nil
  ) {
    self.at = at
    self.user = user
    self.factor = factor
    self.action = action
    self.result = result
    self.reason = reason
    self.counterBefore = counterBefore
    self.counterAfter = counterAfter
    self.source = source
  }
}
