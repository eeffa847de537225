/// What a verification job reads of its user, besides the user.
public struct SnapshotParts: OptionSet, Sendable, Hashable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// Hardware tokens, active or not.
  public static let tokens = SnapshotParts(rawValue: 1 << 0)
  /// Phone-app factors, confirmed or not.
  public static let phoneApps = SnapshotParts(rawValue: 1 << 1)
  /// The failure counters of passwords and recovery codes.
  public static let attempts = SnapshotParts(rawValue: 1 << 2)
  /// The current set of recovery codes (keyed hashes only).
  public static let recoveryCodes = SnapshotParts(rawValue: 1 << 3)
  public static let all: SnapshotParts = [.tokens, .phoneApps, .attempts, .recoveryCodes]
}

/// One recovery code of a user's current set, as stored: its keyed hash, never the code.
public struct RecoveryCodeRecord: Sendable, Equatable {
  public var id: Int64
  public var hash: [UInt8]
  public var used: Bool
  public init(id: Int64, hash: [UInt8], used: Bool) {
    self.id = id
    self.hash = hash
    self.used = used
  }
}

/// A user's state as one verification job read it. Parts the job did not ask for are empty.
public struct VerificationSnapshot: Sendable {
  public var user: UserRecord
  /// Ordered by id.
  public var tokens: [HOTPFactorRecord]
  /// Ordered by id.
  public var phoneApps: [TOTPFactorRecord]
  /// Failure counters by kind; a kind without a row is at ``AttemptState/init(failures:throttledUntil:version:)``'s defaults.
  public var attempts: [String: AttemptState]
  public var recoveryCodes: [RecoveryCodeRecord]

  public init(
    user: UserRecord, tokens: [HOTPFactorRecord] = [], phoneApps: [TOTPFactorRecord] = [],
    attempts: [String: AttemptState] = [:], recoveryCodes: [RecoveryCodeRecord] = []
  ) {
    self.user = user
    self.tokens = tokens
    self.phoneApps = phoneApps
    self.attempts = attempts
    self.recoveryCodes = recoveryCodes
  }

  /// The failure counter of one kind of attempt.
  public func attempts(_ kind: AttemptKind) -> AttemptState { attempts[kind.rawValue] ?? AttemptState() }

  /// Whether `other` holds the same rows at the same versions, so a plan made from one is the plan
  /// the other would give (up to the time it was made).
  public func sameVersions(as other: VerificationSnapshot) -> Bool {
    user == other.user
      && tokens.elementsEqual(other.tokens) { $0.id == $1.id && $0.state.version == $1.state.version }
      && phoneApps.elementsEqual(other.phoneApps) { $0.id == $1.id && $0.state.version == $1.state.version }
      && attempts.mapValues(\.version) == other.attempts.mapValues(\.version)
      && recoveryCodes == other.recoveryCodes
  }
}

/// The kinds of attempt counted per user rather than per factor.
public enum AttemptKind: String, Sendable, CaseIterable {
  /// The password field of a login: the account password or an application password.
  case password
  /// Recovery codes.
  case recovery
}

/// One verification for a store to run: whose state to read, which parts, and the pure function
/// that decides on them.
public struct VerificationJob: Sendable {
  public var userName: String
  public var reads: SnapshotParts
  public var plan: @Sendable (VerificationSnapshot) throws -> VerificationPlan

  public init(
    userName: String, reads: SnapshotParts,
    plan: @escaping @Sendable (VerificationSnapshot) throws -> VerificationPlan
  ) {
    self.userName = userName
    self.reads = reads
    self.plan = plan
  }
}

/// A decision and the writes that make it true, applied all or none.
public struct VerificationPlan: Sendable {
  public enum Write: Sendable {
    /// Move a token's state from `expectedVersion`, recording `audit` with it.
    case token(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    /// Move a phone app's state from `expectedVersion`, recording `audit` with it.
    case phoneApp(factorID: Int64, expectedVersion: Int64, newState: TOTPState, audit: AuditEntry)
    /// Move a failure counter from `expectedVersion` (0 for a kind without a row yet).
    case attempts(userID: Int64, kind: AttemptKind, expectedVersion: Int64, newState: AttemptState)
    /// Mark a recovery code used, if it is still unused.
    case useRecoveryCode(id: Int64, at: Int64)
    /// Only record.
    case append(AuditEntry)
  }
  public var decision: Decision
  public var writes: [Write]
  /// Set by the store when a conditional write did not hold: nothing of the plan was applied.
  public var lost = false

  public init(decision: Decision, writes: [Write]) {
    self.decision = decision
    self.writes = writes
  }

  /// The token move of a plan whose only write it is (as every acceptance by a token is); stores
  /// may apply such a plan from a remembered read, since the move's condition is all it rests on.
  public var soleTokenMove: (factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)?
  {
    guard writes.count == 1, case .token(let id, let version, let state, let audit) = writes[0] else {
      return nil
    }
    return (id, version, state, audit)
  }
}
