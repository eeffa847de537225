import Foundation
import Logging
import NIOCore
import OneTimePassword
import PostgresNIO
import Verifier

/// The verifier store shared by several machines: PostgreSQL, reached through postgres-nio.
///
/// A factor's state moves by one statement: a conditional `UPDATE ... WHERE id = $ AND version = $`
/// whose row, if any, feeds the audit `INSERT` of the same statement, so the acceptance and its
/// record commit together or not at all, and of any number of nodes racing on one code exactly one
/// changes the row. Calls block the calling thread (like the SQLite store), except the hardware-only
/// verification, which also runs as futures on the connection's event loop for callers that must
/// not block; decided from a remembered read, it is one statement that moves the token or, when the
/// memory was stale, reads it afresh. Verifications' compare-and-sets that arrive together share
/// statements (``MoveBatcher``), each still standing alone. A lost connection fails the call with
/// ``StoreError/unavailable(_:)``: the server rolls back whatever was not committed, and the next
/// call connects again.
public final class PostgresStore: VerifierStore, @unchecked Sendable {
  let pool: ConnectionPool
  let moves: MoveBatcher
  let logger: Logger

  /// Connects to `location` (up to `connections` connections) and migrates the database. A call
  /// that has not ended within `callTimeout`, its wait for a connection included, fails as
  /// unavailable, like a lost connection (a statement the server had received whole may still
  /// commit), and its connection is closed and replaced. `batchesInFlight` is how many statements
  /// of verifications' compare-and-sets may run at once; more verifications than that share
  /// statements (see ``MoveBatcher``). One is the default: under load it makes fewer, larger
  /// statements, and PostgreSQL spent about a third less CPU per verification than with two.
  public init(
    location: PostgresLocation, connections: Int = 16, callTimeout: Duration = .seconds(60),
    batchesInFlight: Int = 1,
    logger: Logger = Logger(label: "otptoken.postgres")
  )
    throws(StoreError)
  {
    self.logger = logger
    pool = ConnectionPool(location: location, limit: connections, callTimeout: callTimeout, logger: logger)
    moves = MoveBatcher(pool: pool, inFlight: batchesInFlight)
    try pool.with { try Schema.migrate($0) }
  }

  deinit { pool.close() }

  // MARK: Running statements

  /// Runs a read. A statement that changes something goes through ``write(_:)`` or
  /// ``transaction(_:)``, which answer only once it is committed.
  @discardableResult
  func run(_ query: PostgresQuery) throws(StoreError) -> PostgresQueryResult {
    try pool.with { try $0.query(query) }
  }

  /// Runs a statement that changes something, outside a transaction block; returns once it is
  /// committed (see ``ConnectionPool/committed(on:)``).
  @discardableResult
  func write(_ query: PostgresQuery) throws(StoreError) -> PostgresQueryResult {
    try pool.with { lease in
      let result = try lease.query(query)
      try lease.committed()
      return result
    }
  }

  /// Runs `body`'s statements in one transaction on one connection; an error rolls it back.
  func transaction<T>(_ body: (Transaction) throws -> T) throws(StoreError) -> T {
    try pool.with { lease in
      let transaction = Transaction(lease: lease)
      try transaction.run("BEGIN")
      do {
        let result = try body(transaction)
        try transaction.run("COMMIT")
        return result
      } catch {
        // A lost connection is rolled back by the server; asking it would wait on a closing
        // connection (postgres-nio can leave that query pending), so the pool discards it instead.
        if !ConnectionPool.isConnectionError(error) { _ = try? transaction.run("ROLLBACK") }
        throw error
      }
    }
  }

  /// One connection inside a transaction.
  struct Transaction {
    let lease: ConnectionPool.Lease
    @discardableResult
    func run(_ query: PostgresQuery) throws -> PostgresQueryResult { try lease.query(query) }
  }

  // MARK: Rows

  static func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

  static let insertAuditColumns = """
    INSERT INTO audit (at, "user", factor, action, result, reason, counter_before, counter_after, source)
    """

  static func auditQuery(_ audit: AuditEntry) -> PostgresQuery {
    """
    \(unescaped: insertAuditColumns) VALUES (\(audit.at), \(audit.user), \(audit.factor), \(audit.action), \
    \(audit.result), \(audit.reason), \(audit.counterBefore.map { Int64(bitPattern: $0) }), \
    \(audit.counterAfter.map { Int64(bitPattern: $0) }), \(audit.source))
    """
  }

  static let factorColumns = """
    f.id, f.user_id, f.serial, f.digits, f.algorithm, f.secret, f.key_id, f.active, f.next_counter,
    f.failures, f.throttled_until, f.hard_locked, f.pending_counter, f.pending_expiry, f.version
    """

  static func factor(_ row: some PostgresCells, at base: Int = 0) throws -> HOTPFactorRecord {
    let algorithmName = try row[base + 4].decode(String.self)
    guard let algorithm = HashAlgorithm(rawValue: algorithmName) else {
      throw StoreError.corrupt("unknown algorithm \(algorithmName)")
    }
    return HOTPFactorRecord(
      id: try row[base].decode(Int64.self), userID: try row[base + 1].decode(Int64?.self),
      serial: try row[base + 2].decode(String.self), digits: try row[base + 3].decode(Int.self),
      algorithm: algorithm,
      sealedSecret: SealedSecret(
        keyID: try row[base + 6].decode(String.self),
        combined: bytes(try row[base + 5].decode(ByteBuffer.self))),
      active: try row[base + 7].decode(Bool.self),
      state: HOTPState(
        nextCounter: UInt64(bitPattern: try row[base + 8].decode(Int64.self)),
        failures: try row[base + 9].decode(Int.self), throttledUntil: try row[base + 10].decode(Int64?.self),
        hardLocked: try row[base + 11].decode(Bool.self),
        pendingResyncCounter: try row[base + 12].decode(Int64?.self).map { UInt64(bitPattern: $0) },
        pendingResyncExpiry: try row[base + 13].decode(Int64?.self),
        version: try row[base + 14].decode(Int64.self)))
  }

  static func insertFactorQuery(_ factor: NewHOTPFactor) -> PostgresQuery {
    """
    INSERT INTO hotp_factors (user_id, serial, digits, algorithm, secret, key_id, active, next_counter)
    VALUES (\(factor.userID), \(factor.serial), \(factor.digits), \(factor.algorithm.rawValue), \
    \(ByteBuffer(bytes: factor.sealedSecret.combined)), \(factor.sealedSecret.keyID), \(factor.active), \
    \(Int64(bitPattern: factor.counter)))
    RETURNING id
    """
  }

  /// The compare-and-set and its audit line as one statement: the INSERT reads the UPDATE's
  /// returned row, so it happens exactly when the UPDATE won.
  static func compareAndSetQuery(
    factorID: Int64, expectedVersion: Int64, state: HOTPState, audit: AuditEntry,
    assignTo userID: Int64? = nil
  ) -> PostgresQuery {
    """
    WITH moved AS (
      UPDATE hotp_factors
      SET next_counter = \(Int64(bitPattern: state.nextCounter)), failures = \(state.failures), \
    throttled_until = \(state.throttledUntil), hard_locked = \(state.hardLocked), \
    pending_counter = \(state.pendingResyncCounter.map { Int64(bitPattern: $0) }), \
    pending_expiry = \(state.pendingResyncExpiry), version = version + 1, \
    user_id = COALESCE(\(userID), user_id), active = active OR \(userID != nil)
      WHERE id = \(factorID) AND version = \(expectedVersion)
      RETURNING id
    )
    \(unescaped: insertAuditColumns)
    SELECT \(audit.at), \(audit.user), \(audit.factor), \(audit.action), \(audit.result), \(audit.reason), \
    \(audit.counterBefore.map { Int64(bitPattern: $0) }), \(audit.counterAfter.map { Int64(bitPattern: $0) }), \
    \(audit.source) FROM moved
    """
  }

  // MARK: VerifierStore

  public func createUser(name: String, audit: AuditEntry) throws(StoreError) -> UserRecord {
    try transaction { t in
      let rows = try t.run(
        "INSERT INTO users (name, created_at) VALUES (\(name), \(audit.at)) ON CONFLICT (name) DO NOTHING RETURNING id"
      )
      guard let row = rows.first else { throw StoreError.conflict("user \(name)") }
      try t.run(Self.auditQuery(audit))
      return UserRecord(id: try row.decode(Int64.self), name: name)
    }
  }

  public func user(named name: String) throws(StoreError) -> UserRecord? {
    try decoded(run("SELECT id, name FROM users WHERE name = \(name)")) {
      UserRecord(id: try $0.decode(Int64.self), name: try $1.decode(String.self))
    }.first
  }

  public func users() throws(StoreError) -> [UserRecord] {
    try decoded(run("SELECT id, name FROM users ORDER BY name")) {
      UserRecord(id: try $0.decode(Int64.self), name: try $1.decode(String.self))
    }
  }

  public func userWithHOTPFactors(named name: String) throws(StoreError) -> (UserRecord, [HOTPFactorRecord])?
  {
    let rows = try run(
      """
      SELECT u.id, u.name, \(unescaped: Self.factorColumns)
      FROM users u LEFT JOIN hotp_factors f ON f.user_id = u.id
      WHERE u.name = \(name) ORDER BY f.id
      """)
    guard let first = rows.first?.makeRandomAccess() else { return nil }
    return try decoding {
      let user = UserRecord(id: try first[0].decode(Int64.self), name: try first[1].decode(String.self))
      let factors = try rows.map { $0.makeRandomAccess() }.filter { !$0[2].isNull }.map {
        try Self.factor($0, at: 2)
      }
      return (user, factors)
    }
  }

  /// One round trip reads the user, their tokens and whether they have phone apps; the writes
  /// follow on the same connection, one statement each (a compare-and-set carries its audit line).
  public func decideAndApplyIfNoPhoneApps(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome {
    let job = verificationJob(name, plan)
    do { return try job.wait() } catch { throw mapped(error) }
  }

  /// The same job, chained on the connection's event loop: the caller's task is resumed once, when
  /// the writes are done, and no thread waits in between.
  public func decideAndApplyIfNoPhoneAppsWithoutBlocking(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? {
    let job = verificationJob(name, plan)
    do { return try await job.get() } catch { throw mapped(error) }
  }

  /// A verification: the read (batched as a move of nothing), the plan (run on the event loop: a
  /// decision is a few HMACs), and the plan's writes.
  func verificationJob(
    _ name: String, _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) -> EventLoopFuture<HardwareOnlyOutcome> {
    moves.apply(MoveBatcher.Move(compareAndSet: nil, userName: name)).flatMap {
      self.decide($0.fresh, at: MoveBatcher.freshBase, plan)
    }
  }

  /// Decides on rows of ``userAndTokens(named:where:)``'s columns (from column `base` on) and applies the
  /// plan's writes.
  func decide(
    _ rows: [PreparedRow], at base: Int,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) -> EventLoopFuture<HardwareOnlyOutcome> {
    let (user, decided): (UserRecord, VerificationPlan)
    do {
      guard let first = rows.first, !first[base].isNull else {
        return pool.eventLoop.makeSucceededFuture(.decided(nil))
      }
      guard try !first[base + 2].decode(Bool.self) else {
        return pool.eventLoop.makeSucceededFuture(.mayHavePhoneApps)
      }
      user = UserRecord(
        id: try first[base].decode(Int64.self), name: try first[base + 1].decode(String.self))
      let factors = try rows.filter { !$0[base + 3].isNull }.map { try Self.factor($0, at: base + 3) }
      decided = try plan(user, factors)
    } catch { return pool.eventLoop.makeFailedFuture(error) }
    return apply(decided, userNamed: user.name).map { .decided($0) }
  }

  /// A plan's writes: one compare-and-set (an acceptance, or a refusal counted on one token) joins
  /// the batched moves, which also require the user to still have no phone apps (else it counts as
  /// lost, and the verifier decides again); other plans run their writes on a connection of their
  /// own.
  func apply(_ plan: VerificationPlan, userNamed name: String) -> EventLoopFuture<VerificationPlan> {
    guard let move = MoveBatcher.Move(soleWriteOf: plan, userNamed: name) else {
      let pool = pool
      return pool.withConnection { Self.apply(plan, on: $0, pool) }
    }
    return moves.apply(move).map { result in
      var plan = plan
      plan.lost = !result.moved
      return plan
    }
  }

  /// The plan's writes in order on `connection` until a compare-and-set loses, each committed on
  /// its own: the futures form of `applyOneByOne`.
  static func apply(
    _ plan: VerificationPlan, on connection: PostgresConnection, _ pool: ConnectionPool
  ) -> EventLoopFuture<VerificationPlan> {
    var applied = connection.eventLoop.makeSucceededFuture(plan)
    for write in plan.writes {
      applied = applied.flatMap { result in
        guard !result.lost else { return connection.eventLoop.makeSucceededFuture(result) }
        switch write {
        case .compareAndSet(let id, let version, let state, let audit):
          return pool.executePrepared(
            preparedCompareAndSet, compareAndSetBinds(id, version, state, audit), on: connection
          )
          .map { rows in
            var result = result
            result.lost = rows.count != 1
            return result
          }
        case .append(let audit):
          return pool.query(auditQuery(audit), on: connection).map { _ in result }
        }
      }
    }
    return applied.flatMap { result in pool.committed(on: connection).map { result } }
  }

  /// Applies an acceptance decided from an earlier read in one round trip: a batched move (see
  /// ``MoveBatcher``) of the token if its version holds and the user has no phone apps, which
  /// otherwise reads the user and their tokens, to decide again on.
  public func applyIfStillNoPhoneApps(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome? {
    guard let job = earlyJob(early, name, plan) else { return nil }
    do { return try job.wait() } catch { throw mapped(error) }
  }

  /// The same, chained on the connection's event loop without blocking a thread.
  public func applyIfStillNoPhoneAppsWithoutBlocking(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? {
    guard let job = earlyJob(early, name, plan) else { return nil }
    do { return try await job.get() } catch { throw mapped(error) }
  }

  /// nil unless `early` is one compare-and-set (as every acceptance is).
  func earlyJob(
    _ early: VerificationPlan, _ name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) -> EventLoopFuture<HardwareOnlyOutcome>? {
    guard let move = MoveBatcher.Move(soleWriteOf: early, userNamed: name) else { return nil }
    return moves.apply(move).flatMap { result in
      result.moved
        ? self.pool.eventLoop.makeSucceededFuture(.decided(early))
        : self.decide(result.fresh, at: MoveBatcher.freshBase, plan)
    }
  }

  /// A job's error: the store's mapped to ``StoreError``, the caller's own (from `plan`) as it is.
  func mapped(_ error: any Error) -> any Error {
    error is VerifierError ? error : pool.map(error)
  }

  /// A verification's read: the user, whether they have phone apps, and their tokens (a row each,
  /// or one with NULL token columns if they have none), for the user named by the SQL expression
  /// `name`, where `condition` holds.
  static func userAndTokens(named name: String, where condition: String = "") -> String {
    """
    SELECT u.id, u.name, EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = u.id), \(factorColumns)
    FROM users u LEFT JOIN hotp_factors f ON f.user_id = u.id
    WHERE u.name = \(name)::text \(condition)
    """
  }

  public func insertHOTPFactor(_ factor: NewHOTPFactor, audit: AuditEntry) throws(StoreError)
    -> HOTPFactorRecord
  {
    try transaction { t in
      let existing = try t.run("SELECT id FROM hotp_factors WHERE serial = \(factor.serial)")
      guard existing.isEmpty else { throw StoreError.conflict("token \(factor.serial)") }
      let id = try t.run(Self.insertFactorQuery(factor)).rows[0].decode(Int64.self)
      try t.run(Self.auditQuery(audit))
      let row = try t.run(
        "SELECT \(unescaped: Self.factorColumns) FROM hotp_factors f WHERE f.id = \(id)"
      ).rows[0]
      return try Self.factor(row.makeRandomAccess())
    }
  }

  public func importHOTPFactors(_ factors: [NewHOTPFactor], replace: Bool, audit: AuditEntry)
    throws(StoreError)
  {
    let serials = factors.map(\.serial)
    guard Set(serials).count == serials.count else { throw .conflict("a serial twice in one import") }
    try transaction { t in
      for serial in serials {
        let existing = try t.run("SELECT id FROM hotp_factors WHERE serial = \(serial) FOR UPDATE")
        if !existing.isEmpty {
          guard replace else { throw StoreError.conflict("token \(serial)") }
          try t.run("DELETE FROM hotp_factors WHERE serial = \(serial)")
        }
      }
      for factor in factors { try t.run(Self.insertFactorQuery(factor)) }
      try t.run(Self.auditQuery(audit))
    }
  }

  public func hotpFactor(serial: String) throws(StoreError) -> HOTPFactorRecord? {
    try decodedRows(
      run("SELECT \(unescaped: Self.factorColumns) FROM hotp_factors f WHERE f.serial = \(serial)")
    ) { try Self.factor($0) }.first
  }

  public func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord] {
    try decodedRows(
      run(
        "SELECT \(unescaped: Self.factorColumns) FROM hotp_factors f WHERE f.user_id = \(userID) ORDER BY f.id"
      )
    ) { try Self.factor($0) }
  }

  public func compareAndSet(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    throws(StoreError) -> Bool
  {
    let binds = Self.compareAndSetBinds(factorID, expectedVersion, newState, audit)
    return try pool.with { lease in
      let rows = try lease.executePrepared(Self.preparedCompareAndSet, binds)
      try lease.committed()
      return rows
    }.count == 1
  }

  static func compareAndSetBinds(
    _ factorID: Int64, _ expectedVersion: Int64, _ state: HOTPState, _ audit: AuditEntry
  )
    -> [PostgresData]
  {
    [
      .init(int64: Int64(bitPattern: state.nextCounter)), .init(int64: Int64(state.failures)),
      bind(state.throttledUntil), .init(bool: state.hardLocked),
      bind(state.pendingResyncCounter.map { Int64(bitPattern: $0) }), bind(state.pendingResyncExpiry),
      .init(int64: factorID), .init(int64: expectedVersion),
    ] + auditBinds(audit)
  }

  /// A compare-and-set and its audit line as one prepared statement: token $7 moves from version
  /// $8 to the state $1…$6, and the audit line $9…$17 is written exactly when it did.
  static let preparedCompareAndSet = """
    WITH moved AS (
      UPDATE hotp_factors SET next_counter = $1::bigint, failures = $2::bigint, throttled_until = $3::bigint,
        hard_locked = $4::boolean, pending_counter = $5::bigint, pending_expiry = $6::bigint,
        version = version + 1
      WHERE id = $7::bigint AND version = $8::bigint
      RETURNING id
    )
    \(insertAuditColumns)
    SELECT $9::bigint, $10::text, $11::text, $12::text, $13::text, $14::text, $15::bigint, $16::bigint,
      $17::text FROM moved
    RETURNING id
    """

  static func auditBinds(_ audit: AuditEntry) -> [PostgresData] {
    [
      .init(int64: audit.at), bind(audit.user), bind(audit.factor), .init(string: audit.action),
      .init(string: audit.result), .init(string: audit.reason),
      bind(audit.counterBefore.map { Int64(bitPattern: $0) }),
      bind(audit.counterAfter.map { Int64(bitPattern: $0) }), bind(audit.source),
    ]
  }

  static func bind(_ value: Int64?) -> PostgresData { value.map { .init(int64: $0) } ?? .init(type: .int8) }
  static func bind(_ value: String?) -> PostgresData { value.map { .init(string: $0) } ?? .init(type: .text) }

  public func assign(
    factorID: Int64, to userID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry
  ) throws(StoreError) -> Bool {
    try transaction { t in
      guard !(try t.run("SELECT id FROM users WHERE id = \(userID) FOR SHARE")).isEmpty else {
        throw StoreError.notFound("user \(userID)")
      }
      let result = try t.run(
        Self.compareAndSetQuery(
          factorID: factorID, expectedVersion: expectedVersion, state: newState, audit: audit,
          assignTo: userID))
      return result.metadata.rows == 1
    }
  }

  public func deleteHOTPFactor(id: Int64, audit: AuditEntry) throws(StoreError) {
    try transaction { t in
      let result = try t.run("DELETE FROM hotp_factors WHERE id = \(id)")
      guard result.metadata.rows == 1 else { throw StoreError.notFound("factor \(id)") }
      try t.run(Self.auditQuery(audit))
    }
  }

  public func append(_ audit: AuditEntry) throws(StoreError) {
    try write(Self.auditQuery(audit))
  }

  public func auditEntries(user: String?, limit: Int) throws(StoreError) -> [AuditEntry] {
    let columns = "at, \"user\", factor, action, result, reason, counter_before, counter_after, source"
    let rows: PostgresQueryResult
    if let user {
      rows = try run(
        "SELECT \(unescaped: columns) FROM audit WHERE \"user\" = \(user) ORDER BY id DESC LIMIT \(limit)")
    } else {
      rows = try run("SELECT \(unescaped: columns) FROM audit ORDER BY id DESC LIMIT \(limit)")
    }
    return try decodedRows(rows) { row in
      AuditEntry(
        at: try row[0].decode(Int64.self), user: try row[1].decode(String?.self),
        factor: try row[2].decode(String?.self), action: try row[3].decode(String.self),
        result: try row[4].decode(String.self), reason: try row[5].decode(String.self),
        counterBefore: try row[6].decode(Int64?.self).map { UInt64(bitPattern: $0) },
        counterAfter: try row[7].decode(Int64?.self).map { UInt64(bitPattern: $0) },
        source: try row[8].decode(String?.self))
    }
  }

  // MARK: Decoding

  func decoding<T>(_ body: () throws -> T) throws(StoreError) -> T {
    do { return try body() } catch { throw pool.map(error) }
  }

  func decodedRows<T>(_ rows: PostgresQueryResult, _ body: (PostgresRandomAccessRow) throws -> T)
    throws(StoreError)
    -> [T]
  {
    try decoding { try rows.map { try body($0.makeRandomAccess()) } }
  }

  func decoded<T>(_ rows: PostgresQueryResult, _ body: (PostgresCell, PostgresCell) throws -> T)
    throws(StoreError)
    -> [T]
  {
    try decodedRows(rows) { try body($0[0], $0[1]) }
  }
}

extension PostgresCell {
  var isNull: Bool { bytes == nil }
}
