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
/// changes the row. Calls block the calling thread (like the SQLite store), except a verification
/// (``runVerification(_:)``), which never parks a thread of its caller's pool; decided from a
/// remembered read, it is one statement that moves the token or, when the memory was stale, reads
/// it afresh. Verifications' compare-and-sets that arrive together share statements
/// (``MoveBatcher``), each still standing alone. A lost connection fails the call with
/// ``StoreError/unavailable(_:)``: the server rolls back whatever was not committed, and the next
/// call connects again.
public final class PostgresStore: VerifierStore, @unchecked Sendable {
  let pool: ConnectionPool
  let moves: MoveBatcher
  /// Users' state as last read or written by this node (``runVerification(_:)``).
  let recent = RecentReads()
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
    f.failures, f.throttled_until, f.hard_locked, f.pending_miss, f.pending_expiry, f.version
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
        pendingMiss: try row[base + 12].decode(Int64?.self).map { UInt64(bitPattern: $0) },
        pendingMissExpiry: try row[base + 13].decode(Int64?.self),
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
    pending_miss = \(state.pendingMiss.map { Int64(bitPattern: $0) }), \
    pending_expiry = \(state.pendingMissExpiry), version = version + 1, \
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

  public func deleteUser(userID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    defer { if let name = audit.user { recent.forget(name) } }
    return try transaction { t in
      try t.run(
        "UPDATE hotp_factors SET user_id = NULL, active = false, version = version + 1 WHERE user_id = \(userID)"
      )
      guard try t.run("DELETE FROM users WHERE id = \(userID)").metadata.rows == 1 else { return false }
      try t.run(Self.auditQuery(audit))
      return true
    }
  }

  public func users() throws(StoreError) -> [UserRecord] {
    try decoded(run("SELECT id, name FROM users ORDER BY name")) {
      UserRecord(id: try $0.decode(Int64.self), name: try $1.decode(String.self))
    }
  }

  // MARK: Verification

  /// A verification takes one of two ways, both ending in conditional writes that hold or leave
  /// everything as it was:
  /// - a one-time code of a user without phone apps, the hot path: one batched statement
  ///   (``MoveBatcher``) moves the token of an acceptance planned from a remembered read, or reads
  ///   the user and their tokens afresh; the plan's token move then joins the next batched statement.
  ///   Chained on the connection's event loop, so no thread waits.
  /// - everything else (phone apps, recovery codes, attempt counters, plans of several writes):
  ///   the snapshot is read, planned on, and its writes run in one transaction that rolls back
  ///   when one does not hold, on a thread of its own.
  public func runVerification(_ job: VerificationJob) async throws -> VerificationPlan? {
    let name = job.userName
    let remembered = try recent.plan(job)
    // The batched statement moves and reads only users without phone apps: a user remembered with
    // some goes straight to the general path.
    let hasPhoneApps = remembered.map { !$0.snapshot.phoneApps.isEmpty } ?? false
    do {
      if job.reads.isSubset(of: [.tokens, .phoneApps]) && !hasPhoneApps {
        let early = remembered.flatMap { $0.plan.decision.isAccepted ? $0.plan.soleTokenMove : nil }
        let result = try await moves.apply(MoveBatcher.Move(early, userName: name)).get()
        if result.moved, let plan = remembered?.plan {
          recent.applied(plan, user: name)
          return plan
        }
        switch try Self.tokensRead(result.fresh, at: MoveBatcher.freshBase) {
        case .unknownUser:
          recent.forget(name)
          return nil
        case .hasPhoneApps: break
        case .read(let snapshot):
          recent.remember(snapshot, parts: [.tokens, .phoneApps])
          let plan = try remembered?.reused(for: snapshot) ?? job.plan(snapshot)
          if let move = plan.soleTokenMove {
            var result = plan
            result.lost = try await !moves.apply(MoveBatcher.Move(move, userName: name)).get().moved
            result.lost ? recent.forget(name) : recent.applied(result, user: name)
            return result
          }
          return try await applied(plan, name)
        }
      }
      let snapshot = try await offloaded { () throws(StoreError) in try self.snapshot(name, job.reads) }
      guard let snapshot else {
        recent.forget(name)
        return nil
      }
      recent.remember(snapshot, parts: job.reads)
      return try await applied(try remembered?.reused(for: snapshot) ?? job.plan(snapshot), name)
    } catch {
      recent.forget(name)
      throw mapped(error)
    }
  }

  /// What the batched statement's fresh read says.
  enum TokensRead {
    case unknownUser
    case hasPhoneApps
    /// The user and their tokens, and no phone apps.
    case read(VerificationSnapshot)
  }

  /// Reads rows of ``userAndTokens(named:where:)``'s columns, from column `base` on.
  static func tokensRead(_ rows: [PreparedRow], at base: Int) throws -> TokensRead {
    guard let first = rows.first, !first[base].isNull else { return .unknownUser }
    guard try !first[base + 2].decode(Bool.self) else { return .hasPhoneApps }
    let user = UserRecord(
      id: try first[base].decode(Int64.self), name: try first[base + 1].decode(String.self))
    let tokens = try rows.filter { !$0[base + 3].isNull }.map { try Self.factor($0, at: base + 3) }
    return .read(VerificationSnapshot(user: user, tokens: tokens))
  }

  /// What `parts` of the user named `name` hold.
  func snapshot(_ name: String, _ parts: SnapshotParts) throws(StoreError) -> VerificationSnapshot? {
    try pool.with { lease -> VerificationSnapshot? in
      guard let row = try lease.query("SELECT id, name FROM users WHERE name = \(name)").first else {
        return nil
      }
      let (id, name) = try row.decode((Int64, String).self)
      var snapshot = VerificationSnapshot(user: UserRecord(id: id, name: name))
      if parts.contains(.tokens) {
        snapshot.tokens = try lease.query(
          "SELECT \(unescaped: Self.factorColumns) FROM hotp_factors f WHERE f.user_id = \(id) ORDER BY f.id"
        ).map { try Self.factor($0.makeRandomAccess()) }
      }
      if parts.contains(.phoneApps) {
        snapshot.phoneApps = try lease.query(
          "SELECT \(unescaped: Self.totpColumns) FROM totp_factors WHERE user_id = \(id) ORDER BY id"
        ).map { try Self.totp($0.makeRandomAccess()) }
      }
      if parts.contains(.attempts) {
        for row in try lease.query(
          "SELECT kind, failures, throttled_until, version FROM attempts WHERE user_id = \(id)")
        {
          let (kind, failures, until, version) = try row.decode((String, Int, Int64?, Int64).self)
          snapshot.attempts[kind] = AttemptState(failures: failures, throttledUntil: until, version: version)
        }
      }
      if parts.contains(.recoveryCodes) {
        snapshot.recoveryCodes = try lease.query(
          "SELECT id, hash, used_at IS NOT NULL FROM recovery_codes WHERE user_id = \(id) ORDER BY id"
        ).map {
          let (id, hash, used) = try $0.decode((Int64, ByteBuffer, Bool).self)
          return RecoveryCodeRecord(id: id, hash: Self.bytes(hash), used: used)
        }
      }
      return snapshot
    }
  }

  /// A plan's writes in one transaction, on a thread of its own: all of them, or, when one does
  /// not hold, none (the plan comes back lost).
  func applied(_ plan: VerificationPlan, _ name: String) async throws -> VerificationPlan {
    let result = try await offloaded { () throws(StoreError) -> VerificationPlan in
      try self.pool.with { lease in
        var result = plan
        try lease.query("BEGIN")
        do {
          for write in plan.writes where try !Self.apply(write, lease) {
            result.lost = true
            break
          }
          try lease.query(result.lost ? "ROLLBACK" : "COMMIT")
        } catch {
          if !ConnectionPool.isConnectionError(error) { _ = try? lease.query("ROLLBACK") }
          throw error
        }
        return result
      }
    }
    result.lost ? recent.forget(name) : recent.applied(result, user: name)
    return result
  }

  /// One write inside a transaction; false if its condition did not hold.
  static func apply(_ write: VerificationPlan.Write, _ lease: ConnectionPool.Lease) throws -> Bool {
    switch write {
    case .token(let id, let version, let state, let audit):
      return try lease.executePrepared(preparedCompareAndSet, compareAndSetBinds(id, version, state, audit))
        .count == 1
    case .phoneApp(let id, let version, let state, let audit):
      return try lease.query(compareAndSetTOTPQuery(id, version, state, audit)).metadata.rows == 1
    case .attempts(let userID, let kind, let version, let state):
      if version == 0 {
        try lease.query(
          """
          INSERT INTO attempts (user_id, kind, failures, throttled_until, version)
          VALUES (\(userID), \(kind.rawValue), 0, NULL, 0) ON CONFLICT DO NOTHING
          """)
      }
      return try lease.query(
        """
        UPDATE attempts SET failures = \(state.failures), throttled_until = \(state.throttledUntil), \
        version = version + 1
        WHERE user_id = \(userID) AND kind = \(kind.rawValue) AND version = \(version)
        """
      ).metadata.rows == 1
    case .useRecoveryCode(let id, let at):
      return try lease.query("UPDATE recovery_codes SET used_at = \(at) WHERE id = \(id) AND used_at IS NULL")
        .metadata.rows == 1
    case .append(let audit):
      try lease.query(auditQuery(audit))
      return true
    }
  }

  /// Runs a blocking call on a thread of its own, so an async caller parks no thread of its pool.
  func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws(StoreError) -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      DispatchQueue.global().async {
        continuation.resume(with: Result { () throws(StoreError) in try body() })
      }
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
      bind(state.pendingMiss.map { Int64(bitPattern: $0) }), bind(state.pendingMissExpiry),
      .init(int64: factorID), .init(int64: expectedVersion),
    ] + auditBinds(audit)
  }

  /// A compare-and-set and its audit line as one prepared statement: token $7 moves from version
  /// $8 to the state $1…$6, and the audit line $9…$17 is written exactly when it did.
  static let preparedCompareAndSet = """
    WITH moved AS (
      UPDATE hotp_factors SET next_counter = $1::bigint, failures = $2::bigint, throttled_until = $3::bigint,
        hard_locked = $4::boolean, pending_miss = $5::bigint, pending_expiry = $6::bigint,
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
