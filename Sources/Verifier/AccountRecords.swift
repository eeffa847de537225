import OneTimePassword

/// The decision state of a TOTP factor (a phone app), moved by compare-and-set on ``version``.
public struct TOTPState: Sendable, Equatable, Codable {
  /// The last time step accepted: it and every earlier step are used up.
  public var lastStep: Int64?
  /// How many steps the phone's clock is ahead (negative: behind), learned at enrolment and
  /// followed on each success, bounded.
  public var driftSteps: Int64
  public var failures: Int
  public var throttledUntil: Int64?
  public var hardLocked: Bool
  /// Counts only once a current code has been entered.
  public var active: Bool
  public var version: Int64

  public init(
    lastStep: Int64? = nil, driftSteps: Int64 = 0, failures: Int = 0, throttledUntil: Int64? = nil,
    hardLocked: Bool = false, active: Bool = false, version: Int64 = 0
  ) {
    self.lastStep = lastStep
    self.driftSteps = driftSteps
    self.failures = failures
    self.throttledUntil = throttledUntil
    self.hardLocked = hardLocked
    self.active = active
    self.version = version
  }
}

/// A phone-app factor.
public struct TOTPFactorRecord: Sendable, Equatable {
  public var id: Int64
  public var userID: Int64
  public var sealedSecret: SealedSecret
  public var digits: Int
  public var period: Int
  public var algorithm: HashAlgorithm
  public var state: TOTPState

  public init(
    id: Int64, userID: Int64, sealedSecret: SealedSecret, digits: Int, period: Int, algorithm: HashAlgorithm,
    state: TOTPState
  ) {
    self.id = id
    self.userID = userID
    self.sealedSecret = sealedSecret
    self.digits = digits
    self.period = period
    self.algorithm = algorithm
    self.state = state
  }
}

/// Consecutive failures of one ``AttemptKind`` for a user; locked at ``VerifierSettings/hardLockAfter``.
public struct AttemptState: Sendable, Equatable {
  public var failures: Int
  public var throttledUntil: Int64?
  public var version: Int64
  public init(failures: Int = 0, throttledUntil: Int64? = nil, version: Int64 = 0) {
    self.failures = failures
    self.throttledUntil = throttledUntil
    self.version = version
  }
}

/// An application password as listed (its hash is never shown).
public struct AppPasswordRecord: Sendable, Equatable {
  public var name: String
  public var createdAt: Int64
  public var lastUsedAt: Int64?
  public init(name: String, createdAt: Int64, lastUsedAt: Int64?) {
    self.name = name
    self.createdAt = createdAt
    self.lastUsedAt = lastUsedAt
  }
}

/// Per-user account settings.
public struct AccountRecord: Sendable, Equatable {
  /// The account password's slow salted hash, if the verifier runs the whole login.
  public var passwordHash: String?
  /// Two-step login is off for this user until then (milliseconds since 1970), set by an administrator.
  public var secondFactorOffUntil: Int64?
  /// Groups, for group policies.
  public var groups: [String]
  public init(passwordHash: String? = nil, secondFactorOffUntil: Int64? = nil, groups: [String] = []) {
    self.passwordHash = passwordHash
    self.secondFactorOffUntil = secondFactorOffUntil
    self.groups = groups
  }
}

/// When two-step login is mandatory.
public struct LoginPolicy: Sendable, Equatable, Codable {
  public enum Scope: Sendable, Equatable, Codable {
    case nobody
    case everyone
    case group(String)
  }
  public var mandatoryFor: Scope
  /// Users without a factor may still log in with the password alone until then (milliseconds);
  /// afterwards they are sent to enrolment instead.
  public var deadline: Int64?
  public init(mandatoryFor: Scope = .nobody, deadline: Int64? = nil) {
    self.mandatoryFor = mandatoryFor
    self.deadline = deadline
  }
}

/// Users' factors other than hardware tokens, their account settings and the login policy.
///
/// The decisions on these factors go through ``VerifierStore/runVerification(_:)``; what is here
/// creates, lists and administers them (and confirms a phone app, by compare-and-set).
public protocol AccountStore: Sendable {
  /// Stores a new, unconfirmed phone-app factor, replacing the user's earlier unconfirmed one.
  func insertTOTPFactor(
    userID: Int64, sealedSecret: SealedSecret, digits: Int, period: Int, algorithm: HashAlgorithm,
    audit: AuditEntry
  ) throws(StoreError) -> TOTPFactorRecord
  func totpFactors(userID: Int64) throws(StoreError) -> [TOTPFactorRecord]
  func compareAndSetTOTP(factorID: Int64, expectedVersion: Int64, newState: TOTPState, audit: AuditEntry)
    throws(StoreError) -> Bool
  /// Removes one of the user's phone-app factors (a lost phone); false if the user has none with
  /// that id.
  func removeTOTPFactor(userID: Int64, factorID: Int64, audit: AuditEntry) throws(StoreError) -> Bool

  /// Replaces the user's recovery codes with a new set (the old set is revoked).
  func replaceRecoveryCodes(userID: Int64, hashes: [[UInt8]], audit: AuditEntry) throws(StoreError)
  func remainingRecoveryCodes(userID: Int64) throws(StoreError) -> Int

  /// Adds an application password; a name in use is a conflict.
  func addAppPassword(userID: Int64, name: String, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  /// Revokes one; false if the user has none of that name.
  func revokeAppPassword(userID: Int64, name: String, audit: AuditEntry) throws(StoreError) -> Bool
  /// The name of the user's live application password with this hash (its last use recorded), or nil.
  func useAppPassword(userID: Int64, hash: [UInt8], at: Int64, audit: AuditEntry) throws(StoreError)
    -> String?
  func appPasswords(userID: Int64) throws(StoreError) -> [AppPasswordRecord]

  func account(userID: Int64) throws(StoreError) -> AccountRecord
  func updateAccount(userID: Int64, _ account: AccountRecord, audit: AuditEntry) throws(StoreError)

  func loginPolicy() throws(StoreError) -> LoginPolicy
  func setLoginPolicy(_ policy: LoginPolicy, audit: AuditEntry) throws(StoreError)
}
