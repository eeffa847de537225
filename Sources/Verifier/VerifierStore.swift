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
/// read-modified-written outside the store. A decision's state moves only by conditional writes
/// (`... WHERE id = ? AND version = ?`) in the same transaction or statement as its audit line, so
/// an acceptance and its record are one durable fact: the code step through
/// ``runVerification(_:)``, resynchronisation and registration through
/// ``compareAndSet(factorID:expectedVersion:newState:audit:)``.
public protocol VerifierStore: Sendable {
  func createUser(name: String, audit: AuditEntry) throws(StoreError) -> UserRecord
  func user(named name: String) throws(StoreError) -> UserRecord?
  func users() throws(StoreError) -> [UserRecord]
  /// Deletes a user with everything that is theirs (phone apps, codes, passwords, attempts,
  /// browser sessions). Their hardware tokens go back to the unassigned inventory, inactive and one
  /// version on, so a plan made before the deletion cannot move them and a new holder registers them
  /// from two codes. False if there is no such user.
  func deleteUser(userID: Int64, audit: AuditEntry) throws(StoreError) -> Bool

  /// Stores a new factor; a serial that exists already is a conflict.
  func insertHOTPFactor(_ factor: NewHOTPFactor, audit: AuditEntry) throws(StoreError) -> HOTPFactorRecord
  /// Stores factors all or none; with `replace`, existing serials are overwritten (and unassigned),
  /// otherwise any existing serial is a conflict and nothing is stored.
  func importHOTPFactors(_ factors: [NewHOTPFactor], replace: Bool, audit: AuditEntry) throws(StoreError)
  func hotpFactor(serial: String) throws(StoreError) -> HOTPFactorRecord?
  /// The factors of a user, active or not.
  func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord]
  /// Runs one verification job atomically: reads what `job` asks for of its user, lets the job's
  /// pure planner decide, and applies the plan's writes all or none (one transaction or one
  /// statement). Every write is conditional on the state the plan was made from; when one no longer
  /// holds, nothing is applied and the plan comes back marked ``VerificationPlan/lost`` (the caller
  /// decides again on a fresh read). nil: there is no such user.
  ///
  /// This is the only way a decision reaches the store, for every kind of factor and attempt. How
  /// a store gets there (grouped commits, batched statements, plans made from a remembered read
  /// and confirmed by the conditional write) is its own business.
  func runVerification(_ job: VerificationJob) async throws -> VerificationPlan?

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
