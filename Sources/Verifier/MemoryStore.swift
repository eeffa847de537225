import Foundation

/// A store in this process's memory: for tests and as the reference the conformance suite holds
/// every store to. Thread-safe; not shared between processes.
public final class MemoryStore: VerifierStore, @unchecked Sendable {
  private let lock = NSLock()
  private var usersByID: [Int64: UserRecord] = [:]
  private var factors: [Int64: HOTPFactorRecord] = [:]
  private var log: [AuditEntry] = []
  private var nextID: Int64 = 1
  private var accountState = MemoryAccountState()

  public init() {}

  /// Runs `body` on the account side under the lock; appends `audit` if `onlyIf` holds for the result.
  func accounts<T>(
    audit: AuditEntry? = nil, onlyIf: (T) -> Bool = { _ in true },
    _ body: (inout MemoryAccountState) throws(StoreError) -> T
  ) throws(StoreError) -> T {
    try locked { () throws(StoreError) -> T in
      let result = try body(&accountState)
      if let audit, onlyIf(result) { log.append(audit) }
      return result
    }
  }

  /// Runs `body` under the lock, keeping its typed error.
  private func locked<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  private func newID() -> Int64 {
    defer { nextID += 1 }
    return nextID
  }

  public func createUser(name: String, audit: AuditEntry) throws(StoreError) -> UserRecord {
    try locked { () throws(StoreError) -> UserRecord in
      guard !usersByID.values.contains(where: { $0.name == name }) else { throw .conflict("user \(name)") }
      let user = UserRecord(id: newID(), name: name)
      usersByID[user.id] = user
      log.append(audit)
      return user
    }
  }

  public func user(named name: String) throws(StoreError) -> UserRecord? {
    lock.withLock { usersByID.values.first { $0.name == name } }
  }

  public func users() throws(StoreError) -> [UserRecord] {
    lock.withLock { usersByID.values.sorted { $0.name < $1.name } }
  }

  public func deleteUser(userID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    lock.withLock {
      guard usersByID.removeValue(forKey: userID) != nil else { return false }
      for (id, factor) in factors where factor.userID == userID {
        factors[id]?.userID = nil
        factors[id]?.active = false
        factors[id]?.state.version = factor.state.version + 1
      }
      accountState.removeUser(userID)
      log.append(audit)
      return true
    }
  }

  private func record(from factor: NewHOTPFactor, id: Int64) -> HOTPFactorRecord {
    HOTPFactorRecord(
      id: id, userID: factor.userID, serial: factor.serial, digits: factor.digits,
      algorithm: factor.algorithm,
      sealedSecret: factor.sealedSecret, active: factor.active, state: HOTPState(nextCounter: factor.counter))
  }

  public func insertHOTPFactor(_ factor: NewHOTPFactor, audit: AuditEntry) throws(StoreError)
    -> HOTPFactorRecord
  {
    try locked { () throws(StoreError) -> HOTPFactorRecord in
      guard !factors.values.contains(where: { $0.serial == factor.serial }) else {
        throw .conflict("token \(factor.serial)")
      }
      if let userID = factor.userID, usersByID[userID] == nil { throw .notFound("user \(userID)") }
      let stored = record(from: factor, id: newID())
      factors[stored.id] = stored
      log.append(audit)
      return stored
    }
  }

  public func importHOTPFactors(_ new: [NewHOTPFactor], replace: Bool, audit: AuditEntry) throws(StoreError) {
    try locked { () throws(StoreError) in
      let serials = new.map(\.serial)
      guard Set(serials).count == serials.count else { throw .conflict("a serial twice in one import") }
      let existing = factors.values.filter { serials.contains($0.serial) }
      if !replace, let first = existing.first { throw .conflict("token \(first.serial)") }
      for old in existing { factors[old.id] = nil }
      for factor in new {
        let stored = record(from: factor, id: newID())
        factors[stored.id] = stored
      }
      log.append(audit)
    }
  }

  public func hotpFactor(serial: String) throws(StoreError) -> HOTPFactorRecord? {
    lock.withLock { factors.values.first { $0.serial == serial } }
  }

  public func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord] {
    lock.withLock { factors.values.filter { $0.userID == userID }.sorted { $0.id < $1.id } }
  }

  public func compareAndSet(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    throws(StoreError) -> Bool
  {
    lock.withLock {
      guard var factor = factors[factorID], factor.state.version == expectedVersion else { return false }
      factor.state = newState
      factor.state.version = expectedVersion + 1
      factors[factorID] = factor
      log.append(audit)
      return true
    }
  }

  public func assign(
    factorID: Int64, to userID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry
  )
    throws(StoreError) -> Bool
  {
    try locked { () throws(StoreError) -> Bool in
      guard usersByID[userID] != nil else { throw .notFound("user \(userID)") }
      guard var factor = factors[factorID], factor.state.version == expectedVersion else { return false }
      factor.userID = userID
      factor.active = true
      factor.state = newState
      factor.state.version = expectedVersion + 1
      factors[factorID] = factor
      log.append(audit)
      return true
    }
  }

  public func deleteHOTPFactor(id: Int64, audit: AuditEntry) throws(StoreError) {
    try locked { () throws(StoreError) in
      guard factors.removeValue(forKey: id) != nil else { throw .notFound("factor \(id)") }
      log.append(audit)
    }
  }

  public func runVerification(_ job: VerificationJob) async throws -> VerificationPlan? {
    try lock.withLock { () throws -> VerificationPlan? in
      guard let user = usersByID.values.first(where: { $0.name == job.userName }) else { return nil }
      var snapshot = VerificationSnapshot(user: user)
      if job.reads.contains(.tokens) {
        snapshot.tokens = factors.values.filter { $0.userID == user.id }.sorted { $0.id < $1.id }
      }
      if job.reads.contains(.phoneApps) {
        snapshot.phoneApps = accountState.totp.values.filter { $0.userID == user.id }.sorted { $0.id < $1.id }
      }
      if job.reads.contains(.attempts) { snapshot.attempts = accountState.attempts[user.id] ?? [:] }
      if job.reads.contains(.recoveryCodes) { snapshot.recoveryCodes = accountState.recovery[user.id] ?? [] }
      var plan = try job.plan(snapshot)
      guard plan.writes.allSatisfy(holds) else {
        plan.lost = true
        return plan
      }
      plan.writes.forEach(apply)
      return plan
    }
  }

  /// Whether a write's condition holds. Call with the lock held.
  private func holds(_ write: VerificationPlan.Write) -> Bool {
    switch write {
    case .token(let id, let version, _, _): return factors[id]?.state.version == version
    case .phoneApp(let id, let version, _, _): return accountState.totp[id]?.state.version == version
    case .attempts(let userID, let kind, let version, _):
      return (accountState.attempts[userID]?[kind.rawValue] ?? AttemptState()).version == version
    case .useRecoveryCode(let id, _):
      return accountState.recovery.values.contains { $0.contains { $0.id == id && !$0.used } }
    case .append: return true
    }
  }

  /// Applies a write whose condition holds. Call with the lock held.
  private func apply(_ write: VerificationPlan.Write) {
    switch write {
    case .token(let id, let version, var state, let audit):
      state.version = version + 1
      factors[id]?.state = state
      log.append(audit)
    case .phoneApp(let id, let version, var state, let audit):
      state.version = version + 1
      accountState.totp[id]?.state = state
      log.append(audit)
    case .attempts(let userID, let kind, let version, var state):
      state.version = version + 1
      accountState.attempts[userID, default: [:]][kind.rawValue] = state
    case .useRecoveryCode(let id, _):
      for (user, codes) in accountState.recovery {
        if let index = codes.firstIndex(where: { $0.id == id }) {
          accountState.recovery[user]![index].used = true
        }
      }
    case .append(let audit): log.append(audit)
    }
  }

  public func append(_ audit: AuditEntry) throws(StoreError) { lock.withLock { log.append(audit) } }

  public func auditEntries(user: String?, limit: Int) throws(StoreError) -> [AuditEntry] {
    lock.withLock { Array(log.reversed().filter { user == nil || $0.user == user }.prefix(limit)) }
  }
}
