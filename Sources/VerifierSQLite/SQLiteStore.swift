import Foundation
import GRDB
import OneTimePassword
import Verifier

/// The embedded verifier store: one SQLite file in WAL mode with synchronous=FULL, so an accepted
/// code is durable before the answer leaves, shared safely by every process on the machine.
///
/// Writes run in IMMEDIATE transactions, concurrent ones grouped into one commit (``GroupCommit``);
/// a factor's state moves by one
/// `UPDATE ... WHERE id = ? AND version = ?` whose change count says whether this request won, in
/// the same transaction as its audit line. The schema grows only by named, append-only migrations.
public final class SQLiteStore: VerifierStore, @unchecked Sendable {
  public let path: String
  let pool: DatabasePool
  private let committer: GroupCommit
  let checkpointer: Checkpointer

  /// Opens (creating if needed) the database at `path`, file mode 0600, and migrates it; the folder
  /// must exist. The log
  /// is copied back into the file after every `writesPerCheckpoint` writes, off the writer's path
  /// (``Checkpointer``).
  public init(path: String, busyTimeout: TimeInterval = 10, writesPerCheckpoint: Int = 500) throws(StoreError)
  {
    self.path = path
    var configuration = Configuration()
    configuration.busyMode = .timeout(busyTimeout)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA page_size = \(Self.pageSize)")
      try db.execute(sql: "PRAGMA foreign_keys = ON")
      try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.backstopPages)")
    }
    let directory = (path as NSString).deletingLastPathComponent
    var isFolder: ObjCBool = false
    guard
      directory.isEmpty
        || (FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder) && isFolder.boolValue)
    else {
      throw .unavailable(
        "the folder \(directory) does not exist; create it first (the database is created in it, not the folder)"
      )
    }
    // Created owner-only before SQLite opens it, also through a symbolic link to a file that does
    // not exist yet; SQLite gives its -wal and -shm files the database's mode.
    if !FileManager.default.fileExists(atPath: path) {
      let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
      guard fd >= 0 else { throw .unavailable("cannot create \(path): \(String(cString: strerror(errno)))") }
      close(fd)
    }
    do {
      pool = try DatabasePool(path: path, configuration: configuration)
      // The pool turns WAL on after `prepareDatabase` and sets its writer to synchronous=NORMAL
      // then, which leaves commits unflushed until a checkpoint; FULL flushes the log at every
      // commit, so an acceptance survives a power cut.
      try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
      try Self.migrator.migrate(pool)
    } catch { throw Self.mapped(error, path: path) }
    let checkpointer = Checkpointer(path: path, writesPerCheckpoint: writesPerCheckpoint)
    self.checkpointer = checkpointer
    committer = GroupCommit(pool: pool) { checkpointer.committed(writes: $0) }
  }

  /// The permission bits of the database file if others than its owner may read or write it.
  public static func openToOthers(_ path: String) -> mode_t? {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
    return info.st_mode & 0o777
  }

  /// The page size of a database this store creates. SQLite fixes it when the first table is
  /// written, so an existing database keeps its own. An acceptance rewrites a few pages in random
  /// places (the token's row, the audit index); at 2 KB instead of SQLite's 4 KB each costs half the
  /// bytes to log, checksum and flush.
  static let pageSize = 2048

  /// Named migrations, applied in order, never edited once shipped.
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("2026-11-21-users") { db in
      try db.execute(
        sql: """
          CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL
          ) STRICT
          """)
    }
    migrator.registerMigration("2026-11-21-hotp-factors") { db in
      try db.execute(
        sql: """
          CREATE TABLE hotp_factors (
            id INTEGER PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            serial TEXT NOT NULL UNIQUE,
            digits INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),
            algorithm TEXT NOT NULL,
            secret BLOB NOT NULL,
            key_id TEXT NOT NULL,
            active INTEGER NOT NULL,
            next_counter INTEGER NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            throttled_until INTEGER,
            hard_locked INTEGER NOT NULL DEFAULT 0,
            pending_counter INTEGER,
            pending_expiry INTEGER,
            version INTEGER NOT NULL DEFAULT 0
          ) STRICT;
          CREATE INDEX hotp_factors_user ON hotp_factors(user_id);
          """)
    }
    migrator.registerMigration("2026-11-21-audit") { db in
      try db.execute(
        sql: """
          CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            user TEXT,
            factor TEXT,
            action TEXT NOT NULL,
            result TEXT NOT NULL,
            reason TEXT NOT NULL,
            counter_before INTEGER,
            counter_after INTEGER,
            source TEXT
          ) STRICT;
          CREATE INDEX audit_user ON audit(user, id);
          CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
          CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
          """)
    }
    migrator.registerMigration("2026-11-21-accounts") { db in
      try db.execute(
        sql: """
          CREATE TABLE totp_factors (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            secret BLOB NOT NULL,
            key_id TEXT NOT NULL,
            digits INTEGER NOT NULL CHECK (digits BETWEEN 6 AND 8),
            period INTEGER NOT NULL CHECK (period > 0),
            algorithm TEXT NOT NULL,
            last_step INTEGER,
            drift INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            throttled_until INTEGER,
            hard_locked INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 0
          ) STRICT;
          CREATE INDEX totp_factors_user ON totp_factors(user_id);
          CREATE TABLE recovery_codes (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            hash BLOB NOT NULL,
            used_at INTEGER
          ) STRICT;
          CREATE INDEX recovery_codes_user ON recovery_codes(user_id, hash);
          CREATE TABLE app_passwords (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            hash BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            UNIQUE (user_id, name)
          ) STRICT;
          CREATE INDEX app_passwords_user ON app_passwords(user_id, hash);
          CREATE TABLE accounts (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            password_hash TEXT,
            second_factor_off_until INTEGER,
            groups TEXT NOT NULL DEFAULT '[]'
          ) STRICT;
          CREATE TABLE attempts (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            failures INTEGER NOT NULL,
            throttled_until INTEGER,
            version INTEGER NOT NULL,
            PRIMARY KEY (user_id, kind)
          ) STRICT;
          CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
          """)
    }
    migrator.registerMigration("2026-11-22-client-keys") { db in
      try db.execute(
        sql: """
          CREATE TABLE client_keys (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            hash BLOB NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
          ) STRICT
          """)
    }
    migrator.registerMigration("2026-11-29-browser-sessions") { db in
      try db.execute(
        sql: """
          CREATE TABLE browser_sessions (
            id_hash BLOB PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            stage TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
          ) STRICT;
          CREATE INDEX browser_sessions_user ON browser_sessions(user_id);
          CREATE INDEX browser_sessions_expiry ON browser_sessions(expires_at);
          """)
    }
    migrator.registerMigration("2026-11-29-pending-miss") { db in
      // Auto-resync now remembers the last missed code (masked), not a counter found by a scan;
      // a counter left from before means nothing under the new rule and is dropped.
      try db.execute(
        sql: """
          ALTER TABLE hotp_factors RENAME COLUMN pending_counter TO pending_miss;
          UPDATE hotp_factors SET pending_miss = NULL, pending_expiry = NULL;
          """)
    }
    return migrator
  }

  // MARK: Errors

  static func mapped(_ error: any Error, path: String) -> StoreError {
    if let error = error as? StoreError { return error }
    if let error = error as? DatabaseError {
      switch error.resultCode {
      case .SQLITE_CONSTRAINT: return .conflict(error.message ?? "a unique value")
      case .SQLITE_BUSY, .SQLITE_LOCKED:
        return .unavailable("\(path) is locked by another process (timed out waiting)")
      case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
        return .unavailable("cannot open \(path) for writing: \(error.message ?? "\(error.resultCode)")")
      case .SQLITE_NOTADB, .SQLITE_CORRUPT: return .corrupt("\(path) is not a verifier database")
      case .SQLITE_FULL, .SQLITE_IOERR: return .unavailable("\(path): \(error.message ?? "I/O error")")
      default: return .unavailable("\(path): \(error.message ?? "\(error.resultCode)")")
      }
    }
    return .unavailable("\(path): \(error)")
  }

  /// A read of one statement: SQLite makes a single statement consistent by itself, so no
  /// transaction is opened around it.
  func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
    do { return try pool.unsafeRead(body) } catch { throw Self.mapped(error, path: path) }
  }

  /// A durable write, committed together with the writes of concurrent callers.
  func write<T>(_ body: @escaping (Database) throws -> T) throws(StoreError) -> T {
    do { return try committer.write(body) } catch { throw Self.mapped(error, path: path) }
  }

  // MARK: Rows

  static func insert(_ audit: AuditEntry, _ db: Database) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO audit (at, user, factor, action, result, reason, counter_before, counter_after, source)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    ).run([
      Bound(audit.at), Bound(audit.user), Bound(audit.factor), Bound(audit.action), Bound(audit.result),
      Bound(audit.reason), Bound(audit.counterBefore.map { Int64(bitPattern: $0) }),
      Bound(audit.counterAfter.map { Int64(bitPattern: $0) }), Bound(audit.source),
    ])
  }

  /// The columns of a factor, in the order ``factor(_:)`` reads them.
  static let factorColumns = """
    f.id, f.user_id, f.serial, f.digits, f.algorithm, f.secret, f.key_id, f.active, f.next_counter,
    f.failures, f.throttled_until, f.hard_locked, f.pending_miss, f.pending_expiry, f.version
    """

  /// A factor from a row of ``factorColumns`` starting at column `at`.
  static func factor(_ row: Columns, at base: Int32 = 0) throws -> HOTPFactorRecord {
    let algorithmName = try row.text(base + 4)
    guard let algorithm = HashAlgorithm(rawValue: algorithmName) else {
      throw StoreError.corrupt("unknown algorithm \(algorithmName)")
    }
    return HOTPFactorRecord(
      id: try row.int64(base), userID: row.optionalInt64(base + 1), serial: try row.text(base + 2),
      digits: try row.int(base + 3), algorithm: algorithm,
      sealedSecret: SealedSecret(keyID: try row.text(base + 6), combined: try row.bytes(base + 5)),
      active: try row.bool(base + 7),
      state: HOTPState(
        nextCounter: UInt64(bitPattern: try row.int64(base + 8)), failures: try row.int(base + 9),
        throttledUntil: row.optionalInt64(base + 10), hardLocked: try row.bool(base + 11),
        pendingMiss: row.optionalInt64(base + 12).map { UInt64(bitPattern: $0) },
        pendingMissExpiry: row.optionalInt64(base + 13), version: try row.int64(base + 14)))
  }

  /// The factors a statement selecting ``factorColumns`` finds.
  static func factors(_ statement: Statement, _ values: [Bound]) throws -> [HOTPFactorRecord] {
    var found: [HOTPFactorRecord] = []
    try statement.forEachRow(values) { found.append(try factor($0)) }
    return found
  }

  static func insert(_ factor: NewHOTPFactor, _ db: Database) throws -> Int64 {
    try db.execute(
      sql: """
        INSERT INTO hotp_factors (user_id, serial, digits, algorithm, secret, key_id, active, next_counter)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """,
      arguments: [
        factor.userID, factor.serial, factor.digits, factor.algorithm.rawValue,
        Data(factor.sealedSecret.combined),
        factor.sealedSecret.keyID, factor.active, Int64(bitPattern: factor.counter),
      ])
    return db.lastInsertedRowID
  }

  // MARK: VerifierStore

  public func createUser(name: String, audit: AuditEntry) throws(StoreError) -> UserRecord {
    try write { db in
      if try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE name = ?", arguments: [name]) != nil {
        throw StoreError.conflict("user \(name)")
      }
      try db.execute(sql: "INSERT INTO users (name, created_at) VALUES (?, ?)", arguments: [name, audit.at])
      let user = UserRecord(id: db.lastInsertedRowID, name: name)
      try Self.insert(audit, db)
      return user
    }
  }

  public func user(named name: String) throws(StoreError) -> UserRecord? {
    try read { db in
      try Row.fetchOne(
        db.cachedStatement(sql: "SELECT id, name FROM users WHERE name = ?"), arguments: [name]
      ).map {
        UserRecord(id: $0[0], name: $0[1])
      }
    }
  }

  public func users() throws(StoreError) -> [UserRecord] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT id, name FROM users ORDER BY name").map {
        UserRecord(id: $0["id"], name: $0["name"])
      }
    }
  }

  public func deleteUser(userID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(
        sql: "UPDATE hotp_factors SET user_id = NULL, active = 0, version = version + 1 WHERE user_id = ?",
        arguments: [userID])
      try db.execute(sql: "DELETE FROM users WHERE id = ?", arguments: [userID])
      guard db.changesCount == 1 else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func insertHOTPFactor(_ factor: NewHOTPFactor, audit: AuditEntry) throws(StoreError)
    -> HOTPFactorRecord
  {
    try write { db in
      if try Int64.fetchOne(
        db, sql: "SELECT id FROM hotp_factors WHERE serial = ?", arguments: [factor.serial]) != nil
      {
        throw StoreError.conflict("token \(factor.serial)")
      }
      let id = try Self.insert(factor, db)
      try Self.insert(audit, db)
      guard
        let factor = try Self.factors(
          db.cachedStatement(sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.id = ?"),
          [Bound(id)]
        ).first
      else { throw StoreError.corrupt("token \(id) vanished inside its own transaction") }
      return factor
    }
  }

  public func importHOTPFactors(_ factors: [NewHOTPFactor], replace: Bool, audit: AuditEntry)
    throws(StoreError)
  {
    try write { db in
      let serials = factors.map(\.serial)
      guard Set(serials).count == serials.count else {
        throw StoreError.conflict("a serial twice in one import")
      }
      for serial in serials {
        if try Int64.fetchOne(db, sql: "SELECT id FROM hotp_factors WHERE serial = ?", arguments: [serial])
          != nil
        {
          guard replace else { throw StoreError.conflict("token \(serial)") }
          try db.execute(sql: "DELETE FROM hotp_factors WHERE serial = ?", arguments: [serial])
        }
      }
      for factor in factors { _ = try Self.insert(factor, db) }
      try Self.insert(audit, db)
    }
  }

  public func hotpFactor(serial: String) throws(StoreError) -> HOTPFactorRecord? {
    try read { db in
      try Self.factors(
        db.cachedStatement(sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.serial = ?"),
        [Bound(serial)]
      ).first
    }
  }

  public func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord] {
    try read { db in
      try Self.factors(
        db.cachedStatement(
          sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.user_id = ? ORDER BY f.id"),
        [Bound(userID)])
    }
  }

  static let casSQL = """
    UPDATE hotp_factors
    SET next_counter = ?, failures = ?, throttled_until = ?, hard_locked = ?, pending_miss = ?,
        pending_expiry = ?, version = version + 1
    WHERE id = ? AND version = ?
    """

  /// ``casSQL``'s values: the new state, then the factor and the version it must still have.
  static func casValues(_ s: HOTPState, id: Int64, version: Int64) -> [Bound] {
    [
      Bound(Int64(bitPattern: s.nextCounter)), Bound(s.failures), Bound(s.throttledUntil),
      Bound(s.hardLocked),
      Bound(s.pendingMiss.map { Int64(bitPattern: $0) }), Bound(s.pendingMissExpiry), Bound(id),
      Bound(version),
    ]
  }

  public func compareAndSet(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    throws(StoreError) -> Bool
  {
    try write { db in
      guard
        try db.cachedStatement(sql: Self.casSQL).run(
          Self.casValues(newState, id: factorID, version: expectedVersion)) == 1
      else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func assign(
    factorID: Int64, to userID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry
  )
    throws(StoreError) -> Bool
  {
    try write { db in
      guard try Int64.fetchOne(db, sql: "SELECT id FROM users WHERE id = ?", arguments: [userID]) != nil
      else {
        throw StoreError.notFound("user \(userID)")
      }
      guard
        try db.cachedStatement(sql: Self.casSQL).run(
          Self.casValues(newState, id: factorID, version: expectedVersion)) == 1
      else { return false }
      try db.execute(
        sql: "UPDATE hotp_factors SET user_id = ?, active = 1 WHERE id = ?", arguments: [userID, factorID])
      try Self.insert(audit, db)
      return true
    }
  }

  public func deleteHOTPFactor(id: Int64, audit: AuditEntry) throws(StoreError) {
    try write { db in
      try db.execute(sql: "DELETE FROM hotp_factors WHERE id = ?", arguments: [id])
      guard db.changesCount == 1 else { throw StoreError.notFound("factor \(id)") }
      try Self.insert(audit, db)
    }
  }

  public func append(_ audit: AuditEntry) throws(StoreError) {
    try write { db in try Self.insert(audit, db) }
  }

  public func auditEntries(user: String?, limit: Int) throws(StoreError) -> [AuditEntry] {
    try read { db in
      let rows: [Row]
      if let user {
        rows = try Row.fetchAll(
          db, sql: "SELECT * FROM audit WHERE user = ? ORDER BY id DESC LIMIT ?", arguments: [user, limit])
      } else {
        rows = try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id DESC LIMIT ?", arguments: [limit])
      }
      return rows.map { row in
        AuditEntry(
          at: row["at"], user: row["user"], factor: row["factor"], action: row["action"],
          result: row["result"],
          reason: row["reason"],
          counterBefore: (row["counter_before"] as Int64?).map { UInt64(bitPattern: $0) },
          counterAfter: (row["counter_after"] as Int64?).map { UInt64(bitPattern: $0) }, source: row["source"]
        )
      }
    }
  }
}

extension SQLiteStore {
  /// Creates many users, each with one active token, in one transaction: for seeding a large
  /// deployment or a benchmark. Existing names or serials make the whole call fail.
  public func bulkInsert(_ entries: [(user: String, factor: NewHOTPFactor)], at time: Int64)
    throws(StoreError)
  {
    try write { db in
      let userStatement = try db.makeStatement(sql: "INSERT INTO users (name, created_at) VALUES (?, ?)")
      for entry in entries {
        try userStatement.execute(arguments: [entry.user, time])
        var factor = entry.factor
        factor.userID = db.lastInsertedRowID
        _ = try Self.insert(factor, db)
      }
    }
  }
}

extension SQLiteStore {
  /// The whole verification in one write job of the group commit: the snapshot is read on the
  /// writer's connection inside the transaction, so nothing moves between the read and the writes,
  /// and a caller's task is resumed once the outcome is durable.
  ///
  /// Unlike the PostgreSQL store, this one keeps no remembered reads (`RecentReads` there): the
  /// read is in-process, inside the transaction, and a remembered plan saved nothing measurable in
  /// the bench while holding about 320 bytes per user (docs/performance.md).
  public func runVerification(_ job: VerificationJob) async throws -> VerificationPlan? {
    let name = job.userName
    do {
      return try await committer.writeWithoutBlocking { db -> VerificationPlan? in
        guard let snapshot = try Self.snapshot(db, name, job.reads) else { return nil }
        return try Self.apply(job.plan(snapshot), db)
      }
    } catch let lost as LostRace {
      return lost.plan
    } catch let error as StoreError {
      throw error
    } catch let error as VerifierError {
      throw error
    } catch {
      throw Self.mapped(error, path: path)
    }
  }

  /// The user by name, whether they have phone apps, and their tokens, one row per token (one row
  /// of NULLs from column 3 for none). Built once: the statement cache is keyed by the text.
  static let snapshotSQL = """
    SELECT u.id, u.name, EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = u.id), \(factorColumns)
    FROM users u LEFT JOIN hotp_factors f ON f.user_id = u.id
    WHERE u.name = ? ORDER BY f.id
    """

  /// What `parts` of the user named `name` hold, read inside the writer's transaction.
  static func snapshot(_ db: Database, _ name: String, _ parts: SnapshotParts) throws -> VerificationSnapshot?
  {
    // One statement reads the user, their tokens and whether they have phone apps (most have none,
    // so the phone apps' own read is usually spared).
    var user: UserRecord?
    var hasPhoneApps = false
    var tokens: [HOTPFactorRecord] = []
    try db.cachedStatement(sql: snapshotSQL).forEachRow([Bound(name)]) { row in
      if user == nil {
        user = UserRecord(id: try row.int64(0), name: try row.text(1))
        hasPhoneApps = try row.bool(2)
      }
      if parts.contains(.tokens) && !row.isNull(3) { tokens.append(try factor(row, at: 3)) }
    }
    guard let user else { return nil }
    var snapshot = VerificationSnapshot(user: user)
    let id = user.id
    snapshot.tokens = tokens
    if parts.contains(.phoneApps) && hasPhoneApps { snapshot.phoneApps = try totpFactors(db, userID: id) }
    if parts.contains(.attempts) { snapshot.attempts = try attempts(db, userID: id) }
    if parts.contains(.recoveryCodes) { snapshot.recoveryCodes = try recoveryCodes(db, userID: id) }
    return snapshot
  }

  /// Applies a plan's writes inside the writer's transaction; a condition that does not hold
  /// throws ``LostRace`` so the whole job rolls back.
  static func apply(_ plan: VerificationPlan, _ db: Database) throws -> VerificationPlan {
    for write in plan.writes {
      switch write {
      case .token(let id, let version, let state, let audit):
        try db.cachedStatement(sql: casSQL).run(casValues(state, id: id, version: version))
        try holds(db, plan)
        try insert(audit, db)
      case .phoneApp(let id, let version, let state, let audit):
        try db.cachedStatement(sql: totpCASSQL).run(totpCASValues(state, id: id, version: version))
        try holds(db, plan)
        try insert(audit, db)
      case .attempts(let userID, let kind, let version, let state):
        try compareAndSetAttempts(db, userID: userID, kind: kind, expectedVersion: version, newState: state)
        try holds(db, plan)
      case .useRecoveryCode(let id, let at):
        try db.cachedStatement(sql: "UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL")
          .execute(arguments: [at, id])
        try holds(db, plan)
      case .append(let audit): try insert(audit, db)
      }
    }
    return plan
  }

  /// Throws ``LostRace`` unless the last statement changed one row.
  static func holds(_ db: Database, _ plan: VerificationPlan) throws {
    guard db.changesCount == 1 else {
      var lost = plan
      lost.lost = true
      throw LostRace(plan: lost)
    }
  }

  /// Thrown inside a write job to roll back its savepoint when a condition did not hold.
  struct LostRace: Error {
    let plan: VerificationPlan
  }
}
