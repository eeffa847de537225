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

  /// Opens (creating if needed) the database at `path`, file mode 0600, and migrates it. The log
  /// is copied back into the file after every `writesPerCheckpoint` writes, off the writer's path
  /// (``Checkpointer``).
  public init(path: String, busyTimeout: TimeInterval = 10, writesPerCheckpoint: Int = 500) throws(StoreError)
  {
    self.path = path
    var configuration = Configuration()
    configuration.busyMode = .timeout(busyTimeout)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
      try db.execute(sql: "PRAGMA foreign_keys = ON")
      try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.backstopPages)")
    }
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
      do {
        try FileManager.default.createDirectory(
          atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch { throw .unavailable("cannot create \(directory): \(error.localizedDescription)") }
    }
    if !FileManager.default.fileExists(atPath: path) {
      let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
      if fd >= 0 { close(fd) }
    }
    do {
      pool = try DatabasePool(path: path, configuration: configuration)
      try Self.migrator.migrate(pool)
    } catch { throw Self.mapped(error, path: path) }
    let checkpointer = Checkpointer(path: path, writesPerCheckpoint: writesPerCheckpoint)
    self.checkpointer = checkpointer
    committer = GroupCommit(pool: pool) { checkpointer.committed(writes: $0) }
  }

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
    ).execute(
      arguments: [
        audit.at, audit.user, audit.factor, audit.action, audit.result, audit.reason,
        audit.counterBefore.map { Int64(bitPattern: $0) }, audit.counterAfter.map { Int64(bitPattern: $0) },
        audit.source,
      ])
  }

  /// The columns of a factor, in the order ``factor(_:)`` reads them.
  static let factorColumns = """
    f.id, f.user_id, f.serial, f.digits, f.algorithm, f.secret, f.key_id, f.active, f.next_counter,
    f.failures, f.throttled_until, f.hard_locked, f.pending_counter, f.pending_expiry, f.version
    """

  /// A factor from a row of ``factorColumns`` starting at column `at` (by index: no name lookups on
  /// the hot path).
  static func factor(_ row: Row, at base: Int = 0) throws -> HOTPFactorRecord {
    let algorithmName: String = row[base + 4]
    guard let algorithm = HashAlgorithm(rawValue: algorithmName) else {
      throw StoreError.corrupt("unknown algorithm \(algorithmName)")
    }
    let blob: Data = row[base + 5]
    let pending: Int64? = row[base + 12]
    return HOTPFactorRecord(
      id: row[base], userID: row[base + 1], serial: row[base + 2], digits: row[base + 3],
      algorithm: algorithm,
      sealedSecret: SealedSecret(keyID: row[base + 6], combined: Array(blob)), active: row[base + 7],
      state: HOTPState(
        nextCounter: UInt64(bitPattern: row[base + 8]), failures: row[base + 9],
        throttledUntil: row[base + 10],
        hardLocked: row[base + 11], pendingResyncCounter: pending.map { UInt64(bitPattern: $0) },
        pendingResyncExpiry: row[base + 13], version: row[base + 14]))
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

  public func userWithHOTPFactors(named name: String) throws(StoreError) -> (UserRecord, [HOTPFactorRecord])?
  {
    try read { db in try Self.userWithFactors(db, name) }
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
      let row = try Row.fetchOne(
        db, sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.id = ?", arguments: [id])!
      return try Self.factor(row)
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
      try Row.fetchOne(
        db.cachedStatement(sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.serial = ?"),
        arguments: [serial]
      ).map { try Self.factor($0) }
    }
  }

  public func hotpFactors(userID: Int64) throws(StoreError) -> [HOTPFactorRecord] {
    try read { db in
      try Row.fetchAll(
        db.cachedStatement(
          sql: "SELECT \(Self.factorColumns) FROM hotp_factors f WHERE f.user_id = ? ORDER BY f.id"),
        arguments: [userID]
      ).map { try Self.factor($0) }
    }
  }

  static let casSQL = casSQL(condition: "")

  /// The compare-and-set that applies only while the token's user has no phone apps (see
  /// ``applyIfStillNoPhoneApps(_:userNamed:orDecideAgain:)``).
  static let casIfNoPhoneAppsSQL = casSQL(
    condition: "AND NOT EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = hotp_factors.user_id)")

  static func casSQL(condition: String) -> String {
    """
    UPDATE hotp_factors
    SET next_counter = ?, failures = ?, throttled_until = ?, hard_locked = ?, pending_counter = ?,
        pending_expiry = ?, version = version + 1
    WHERE id = ? AND version = ? \(condition)
    """
  }

  static func stateArguments(_ s: HOTPState) -> StatementArguments {
    [
      Int64(bitPattern: s.nextCounter), s.failures, s.throttledUntil, s.hardLocked,
      s.pendingResyncCounter.map { Int64(bitPattern: $0) }, s.pendingResyncExpiry,
    ]
  }

  public func compareAndSet(factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)
    throws(StoreError) -> Bool
  {
    try write { db in
      try db.cachedStatement(sql: Self.casSQL).execute(
        arguments: Self.stateArguments(newState) + [factorID, expectedVersion])
      guard db.changesCount == 1 else { return false }
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
      try db.execute(
        sql: Self.casSQL, arguments: Self.stateArguments(newState) + [factorID, expectedVersion])
      guard db.changesCount == 1 else { return false }
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
  /// The whole verification in one write job: the factors are read on the writer connection inside
  /// the (group) transaction, so no other writer can move them between the read and the
  /// compare-and-set, and no separate read is needed. The compare-and-sets are still conditional
  /// UPDATEs: a plan never applies to a state it was not made from.
  public func decideAndApply(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> VerificationPlan? {
    try write { db -> VerificationPlan? in
      guard let (user, factors) = try Self.userWithFactors(db, name) else { return nil }
      return try Self.apply(plan(user, factors), db)
    } catchingLostRace: {
      $0
    }
  }

  /// Reads the user, their tokens and their phone apps in the writer's job: one hop, and the
  /// phone apps handed back when there are some.
  public func decideAndApplyIfNoPhoneApps(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome {
    do { return try committer.write(Self.hardwareOnlyJob(name, plan)) } catch {
      return try recovered(error) { .decided($0) }
    }
  }

  /// The same job; the caller's task is resumed when it is durable, and no thread waits for it.
  public func decideAndApplyIfNoPhoneAppsWithoutBlocking(
    userNamed name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? {
    do { return try await committer.writeWithoutBlocking(Self.hardwareOnlyJob(name, plan)) } catch {
      return try recovered(error) { .decided($0) }
    }
  }

  static func hardwareOnlyJob(
    _ name: String, _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) -> (Database) throws -> HardwareOnlyOutcome {
    { db in
      guard let (user, factors) = try userWithFactors(db, name) else { return .decided(nil) }
      let phones = try totpFactors(db, userID: user.id)
      if !phones.isEmpty { return .hasPhoneApps(user, phones) }
      return .decided(try apply(plan(user, factors), db))
    }
  }

  /// Applies an acceptance decided from an earlier read: the writer's job is then the
  /// compare-and-set (also requiring that the user has no phone apps) and its audit line, the
  /// decision having been made outside it, so the single writer does no read and no HMAC. When it
  /// loses, the same job reads and decides again as ``decideAndApplyIfNoPhoneApps(userNamed:_:)``.
  public func applyIfStillNoPhoneApps(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) throws -> HardwareOnlyOutcome? {
    do { return try committer.write(Self.earlyJob(early, name, plan)) } catch {
      return try recovered(error) { .decided($0) }
    }
  }

  /// The same; the caller's task is resumed when it is durable.
  public func applyIfStillNoPhoneAppsWithoutBlocking(
    _ early: VerificationPlan, userNamed name: String,
    orDecideAgain plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) async throws -> HardwareOnlyOutcome? {
    do { return try await committer.writeWithoutBlocking(Self.earlyJob(early, name, plan)) } catch {
      return try recovered(error) { .decided($0) }
    }
  }

  static func earlyJob(
    _ early: VerificationPlan, _ name: String,
    _ plan: @escaping @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  ) -> (Database) throws -> HardwareOnlyOutcome {
    { db in
      if early.writes.count == 1,
        case .compareAndSet(let id, let version, let state, let audit) = early.writes[0]
      {
        try db.cachedStatement(sql: casIfNoPhoneAppsSQL).execute(
          arguments: stateArguments(state) + [id, version])
        if db.changesCount == 1 {
          try insert(audit, db)
          return .decided(early)
        }
      }
      return try hardwareOnlyJob(name, plan)(db)
    }
  }

  /// Applies a plan's writes inside the writer's transaction; a lost compare-and-set throws
  /// ``LostRace`` so the whole job rolls back.
  static func apply(_ plan: VerificationPlan, _ db: Database) throws -> VerificationPlan {
    var result = plan
    for item in result.writes {
      switch item {
      case .compareAndSet(let id, let version, let state, let audit):
        try db.cachedStatement(sql: casSQL).execute(arguments: stateArguments(state) + [id, version])
        guard db.changesCount == 1 else {
          result.lost = true
          throw LostRace(plan: result)
        }
        try insert(audit, db)
      case .append(let audit): try insert(audit, db)
      }
    }
    return result
  }

  /// Thrown inside a write job to roll back its savepoint when a compare-and-set lost.
  struct LostRace: Error {
    let plan: VerificationPlan
  }

  private func write<T>(
    _ body: @escaping (Database) throws -> T, catchingLostRace: (VerificationPlan) -> T
  ) throws -> T {
    do { return try committer.write(body) } catch { return try recovered(error, catchingLostRace) }
  }

  /// A write job's error: a lost race becomes the caller's answer; the store's and the verifier's
  /// own errors pass as they are; anything else is mapped to a ``StoreError``.
  private func recovered<T>(_ error: any Error, _ catchingLostRace: (VerificationPlan) -> T) throws -> T {
    switch error {
    case let lost as LostRace: return catchingLostRace(lost.plan)
    case let error as StoreError: throw error
    case let error as VerifierError: throw error
    default: throw Self.mapped(error, path: path)
    }
  }

  static func userWithFactors(_ db: Database, _ name: String) throws -> (UserRecord, [HOTPFactorRecord])? {
    let rows = try Row.fetchAll(
      db.cachedStatement(
        sql: """
          SELECT u.id, u.name, \(factorColumns)
          FROM users u LEFT JOIN hotp_factors f ON f.user_id = u.id
          WHERE u.name = ? ORDER BY f.id
          """), arguments: [name])
    guard let first = rows.first else { return nil }
    let user = UserRecord(id: first[0], name: first[1])
    let factors = try rows.filter { !$0.hasNull(atIndex: 2) }.map { try factor($0, at: 2) }
    return (user, factors)
  }
}
