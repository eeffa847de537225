/// Why the store could not do what was asked.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A unique value exists already (a user name, a token serial).
  case conflict(String)
  /// Something named does not exist.
  case notFound(String)
  /// The database cannot be reached, opened or written (locked, unreadable, full).
  case unavailable(String)
  /// Stored data is not what this version understands.
  case corrupt(String)

  public var description: String {
    switch self {
    case .conflict(let what): return "\(what) exists already"
    case .notFound(let what): return "\(what) does not exist"
    case .unavailable(let why): return "the verifier database is unavailable: \(why)"
    case .corrupt(let why): return "the verifier database holds unexpected data: \(why)"
    }
  }
}

/// Where the verifier keeps users, factors and the audit log.
///
/// Every operation is safe with many processes (and, for a shared store, many machines): nothing is
/// read-modified-written outside the store. A factor's decision state moves only through
/// ``compareAndSet(factorID:expectedVersion:newState:audit:)``, which a SQL store implements as
/// one conditional UPDATE (`... WHERE id = ? AND version = ?`) in the same transaction as the audit
/// line, so an acceptance and its record are one durable fact.
public protocol VerifierStore: Sendable {
  func createUser(name: String, audit: AuditEntry) throws(StoreError) -> UserRecord
  func user(named name: String) throws(StoreError) -> UserRecord?
  func users() throws(StoreError) -> [UserRecord]

  /// Stores a new factor; a serial that exists already is a conflict.
  func insertHOTPFactor(_ factor: NewHOTPFactor, audit: AuditEntry) throws(StoreError) -> HOTPFactorRecord
  /// Stores factors all or none; with `replace`, existing serials are overwritten (and unassigned),
  /// otherwise any existing serial is a conflict and nothing is stored.
  func importHOTPFactors(_ factors: [NewHOTPFactor], replace: Bool, audit: AuditEntry) throws(StoreError)
  func hotpFactor(serial: String) throws(StoreError) -> HOTPFactorRecord?
  /// The factors of a user, active or not.
  func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord]
  /// A user and their factors in one read; nil if no such user.
  func userWithHOTPFactors(named name: String) throws(StoreError) -> (UserRecord, [HOTPFactorRecord])?

  /// The verification hot path: reads the user's factors, lets `plan` decide, and applies the
  /// plan's writes. Returns nil if there is no such user, and a plan marked `lost` if one of its
  /// compare-and-sets lost a race (the caller decides again).
  func decideAndApply(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> VerificationPlan?

  /// ``decideAndApply(userNamed:_:)`` for a user without phone apps, checked in the same job, so a
  /// store that can do both at once spares the verifier a separate read of the phone apps.
  /// Otherwise it decides nothing and answers ``HardwareOnlyOutcome/hasPhoneApps(_:_:)`` with the
  /// phone apps it read, or ``HardwareOnlyOutcome/mayHavePhoneApps`` (the default).
  func decideAndApplyIfNoPhoneApps(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome

  /// ``decideAndApplyIfNoPhoneApps(userNamed:_:)`` for a caller that must not block a thread (an
  /// HTTP handler): the store waits on its own I/O and resumes the caller when the job is done, so
  /// no thread is parked per request. A store without such I/O answers nil at once (the default),
  /// and the caller runs the blocking call on a thread of its own.
  func decideAndApplyIfNoPhoneAppsWithoutBlocking(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome?

  /// Applies `early`, an acceptance the verifier made from tokens it read earlier and does not read
  /// again here, if the user still has no phone apps: its compare-and-set also requires that. When it
  /// loses (a token moved, or phone apps appeared), nothing of it holds and the store carries on as
  /// ``decideAndApplyIfNoPhoneApps(userNamed:_:)``, reading in the same round trip where it can. So a
  /// verifier that remembers its reads (``RecentReads``) decides with one write and no read, and
  /// costs no more than a read when its memory is stale. nil: the store does not do this (the
  /// default), and the verifier reads.
  func applyIfStillNoPhoneApps(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome?

  /// ``applyIfStillNoPhoneApps(_:userNamed:orDecideAgain:)`` for a caller that must not block a
  /// thread; nil where the store cannot wait on its I/O itself (the default).
  func applyIfStillNoPhoneAppsWithoutBlocking(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome?

  /// Moves a factor's state if its version is still `expectedVersion`, appending `audit` in the same
  /// transaction. Returns false, changing nothing, if another request moved it first.
  func compareAndSet(
    factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry
  ) throws(StoreError) -> Bool

  /// Like ``compareAndSet(factorID:expectedVersion:newState:audit:)`` but also sets the owner and
  /// marks the factor active (assigning an imported token, confirming a registration).
  func assign(
    factorID: Int64, to userID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry
  ) throws(StoreError) -> Bool

  /// Removes a factor.
  func deleteHOTPFactor(id: Int64, audit: AuditEntry) throws(StoreError)

  /// Appends a line to the audit log.
  func append(_ audit: AuditEntry) throws(StoreError)
  /// The newest audit lines first, optionally for one user.
  func auditEntries(user: String?, limit: Int) throws(StoreError) -> [AuditEntry]
}

/// A decision and the writes that make it true.
public struct VerificationPlan: Sendable {
  public enum Write: Sendable {
    /// Move a factor's state from `expectedVersion`, recording `audit` with it.
    case compareAndSet(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    /// Only record.
    case append(AuditEntry)
  }
  public var decision: Decision
  public var writes: [Write]
  /// Set by the store when a compare-and-set lost a race: nothing of the plan holds.
  public var lost = false

  public init(decision: Decision, writes: [Write]) {
    self.decision = decision
    self.writes = writes
  }
}

/// What ``VerifierStore/decideAndApplyIfNoPhoneApps(userNamed:_:)`` did.
public enum HardwareOnlyOutcome: Sendable {
  /// The user has no phone apps: decided and applied as ``VerifierStore/decideAndApply(userNamed:_:)``
  /// (nil: no such user).
  case decided(VerificationPlan?)
  /// Nothing decided: the user has these phone apps, read in the same job (the caller need not
  /// read them again).
  case hasPhoneApps(UserRecord, [TOTPFactorRecord])
  /// Nothing decided: the user has phone apps, or the store cannot tell in the same job.
  case mayHavePhoneApps
}

extension VerifierStore {
  public func decideAndApplyIfNoPhoneApps(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome { .mayHavePhoneApps }

  public func decideAndApplyIfNoPhoneAppsWithoutBlocking(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? { nil }

  public func applyIfStillNoPhoneApps(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome? { nil }

  public func applyIfStillNoPhoneAppsWithoutBlocking(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? { nil }

  /// One read, then the writes one by one, each compare-and-set on its own: correct for any store,
  /// since every state change is conditional on the version that was read.
  public func decideAndApply(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> VerificationPlan? {
    guard let (user, factors) = try userWithHOTPFactors(named: name) else { return nil }
    return try applyOneByOne(plan(user, factors))
  }

  /// A plan's writes one by one; a compare-and-set that lost marks the plan `lost` and stops.
  public func applyOneByOne(_ plan: VerificationPlan) throws -> VerificationPlan {
    var result = plan
    for write in result.writes {
      switch write {
      case .compareAndSet(let id, let version, let state, let audit):
        guard try compareAndSet(factorID: id, expectedVersion: version, newState: state, audit: audit) else {
          result.lost = true
          return result
        }
      case .append(let audit): try append(audit)
      }
    }
    return result
  }

  /// Two reads; stores override it with one.
  public func userWithHOTPFactors(named name: String) throws(StoreError) -> (UserRecord, [HOTPFactorRecord])?
  {
    guard let user = try user(named: name) else { return nil }
    return (user, try hotpFactors(userID: user.id))
  }
}
