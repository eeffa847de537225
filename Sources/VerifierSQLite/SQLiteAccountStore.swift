import Foundation
import GRDB
import OneTimePassword
import Verifier

extension SQLiteStore: AccountStore {
  static let totpColumns = """
    id, user_id, secret, key_id, digits, period, algorithm, last_step, drift, failures, throttled_until,
    hard_locked, active, version
    """

  /// ``totpColumns`` qualified by the table alias `t`, for joins.
  static let joinedTOTPColumns = totpColumns.split(separator: ",").map {
    "t." + $0.trimmingCharacters(in: .whitespacesAndNewlines)
  }.joined(separator: ", ")

  /// A phone-app factor from a row of ``totpColumns`` starting at column `base`.
  static func totp(_ row: Row, at base: Int = 0) throws -> TOTPFactorRecord {
    let name: String = row[base + 6]
    guard let algorithm = HashAlgorithm(rawValue: name) else {
      throw StoreError.corrupt("unknown algorithm \(name)")
    }
    let blob: Data = row[base + 2]
    return TOTPFactorRecord(
      id: row[base], userID: row[base + 1],
      sealedSecret: SealedSecret(keyID: row[base + 3], combined: Array(blob)), digits: row[base + 4],
      period: row[base + 5], algorithm: algorithm,
      state: TOTPState(
        lastStep: row[base + 7], driftSteps: row[base + 8], failures: row[base + 9],
        throttledUntil: row[base + 10], hardLocked: row[base + 11], active: row[base + 12],
        version: row[base + 13]))
  }

  public func insertTOTPFactor(
    userID: Int64, sealedSecret: SealedSecret, digits: Int, period: Int, algorithm: HashAlgorithm,
    audit: AuditEntry
  ) throws(StoreError) -> TOTPFactorRecord {
    try write { db in
      try db.execute(sql: "DELETE FROM totp_factors WHERE user_id = ? AND active = 0", arguments: [userID])
      try db.execute(
        sql:
          "INSERT INTO totp_factors (user_id, secret, key_id, digits, period, algorithm) VALUES (?, ?, ?, ?, ?, ?)",
        arguments: [
          userID, Data(sealedSecret.combined), sealedSecret.keyID, digits, period, algorithm.rawValue,
        ])
      let id = db.lastInsertedRowID
      try Self.insert(audit, db)
      return try Self.totp(
        try Row.fetchOne(
          db, sql: "SELECT \(Self.totpColumns) FROM totp_factors WHERE id = ?", arguments: [id])!)
    }
  }

  public func totpFactors(userID: Int64) throws(StoreError) -> [TOTPFactorRecord] {
    try read { db in try Self.totpFactors(db, userID: userID) }
  }

  static func totpFactors(_ db: Database, userID: Int64) throws -> [TOTPFactorRecord] {
    try Row.fetchAll(
      db.cachedStatement(sql: "SELECT \(totpColumns) FROM totp_factors WHERE user_id = ? ORDER BY id"),
      arguments: [userID]
    ).map { try totp($0) }
  }

  static let totpCASSQL = """
    UPDATE totp_factors SET last_step = ?, drift = ?, failures = ?, throttled_until = ?, hard_locked = ?,
      active = ?, version = version + 1
    WHERE id = ? AND version = ?
    """

  /// ``totpCASSQL``'s values: the new state, then the factor and the version it must still have.
  static func totpCASValues(_ s: TOTPState, id: Int64, version: Int64) -> [Bound] {
    [
      Bound(s.lastStep), Bound(s.driftSteps), Bound(s.failures), Bound(s.throttledUntil), Bound(s.hardLocked),
      Bound(s.active), Bound(id), Bound(version),
    ]
  }

  public func compareAndSetTOTP(
    factorID: Int64, expectedVersion: Int64, newState: TOTPState, audit: AuditEntry
  )
    throws(StoreError) -> Bool
  {
    try write { db in
      guard
        try db.cachedStatement(sql: Self.totpCASSQL).run(
          Self.totpCASValues(newState, id: factorID, version: expectedVersion)) == 1
      else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func removeTOTPFactor(userID: Int64, factorID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(
        sql: "DELETE FROM totp_factors WHERE id = ? AND user_id = ?", arguments: [factorID, userID])
      guard db.changesCount == 1 else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func replaceRecoveryCodes(userID: Int64, hashes: [[UInt8]], audit: AuditEntry) throws(StoreError) {
    try write { db in
      try db.execute(sql: "DELETE FROM recovery_codes WHERE user_id = ?", arguments: [userID])
      for hash in hashes {
        try db.execute(
          sql: "INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)", arguments: [userID, Data(hash)])
      }
      try Self.insert(audit, db)
    }
  }

  static func recoveryCodes(_ db: Database, userID: Int64) throws -> [RecoveryCodeRecord] {
    try Row.fetchAll(
      db.cachedStatement(
        sql: "SELECT id, hash, used_at IS NOT NULL FROM recovery_codes WHERE user_id = ? ORDER BY id"),
      arguments: [userID]
    ).map { RecoveryCodeRecord(id: $0[0], hash: Array($0[1] as Data), used: $0[2]) }
  }

  public func remainingRecoveryCodes(userID: Int64) throws(StoreError) -> Int {
    try read { db in
      try Int.fetchOne(
        db, sql: "SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
        arguments: [userID]) ?? 0
    }
  }

  public func addAppPassword(userID: Int64, name: String, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try write { db in
      if try Int64.fetchOne(
        db, sql: "SELECT id FROM app_passwords WHERE user_id = ? AND name = ?", arguments: [userID, name])
        != nil
      {
        throw StoreError.conflict("application password \(name)")
      }
      try db.execute(
        sql: "INSERT INTO app_passwords (user_id, name, hash, created_at) VALUES (?, ?, ?, ?)",
        arguments: [userID, name, Data(hash), at])
      try Self.insert(audit, db)
    }
  }

  public func revokeAppPassword(userID: Int64, name: String, audit: AuditEntry) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(
        sql: "DELETE FROM app_passwords WHERE user_id = ? AND name = ?", arguments: [userID, name])
      guard db.changesCount == 1 else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func useAppPassword(userID: Int64, hash: [UInt8], at: Int64, audit: AuditEntry) throws(StoreError)
    -> String?
  {
    try write { db in
      guard
        let name = try String.fetchOne(
          db, sql: "SELECT name FROM app_passwords WHERE user_id = ? AND hash = ?",
          arguments: [userID, Data(hash)])
      else { return nil }
      try db.execute(
        sql: "UPDATE app_passwords SET last_used_at = ? WHERE user_id = ? AND name = ?",
        arguments: [at, userID, name])
      try Self.insert(audit, db)
      return name
    }
  }

  public func appPasswords(userID: Int64) throws(StoreError) -> [AppPasswordRecord] {
    try read { db in
      try Row.fetchAll(
        db, sql: "SELECT name, created_at, last_used_at FROM app_passwords WHERE user_id = ? ORDER BY name",
        arguments: [userID]
      ).map { AppPasswordRecord(name: $0[0], createdAt: $0[1], lastUsedAt: $0[2]) }
    }
  }

  public func account(userID: Int64) throws(StoreError) -> AccountRecord {
    try read { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT password_hash, second_factor_off_until, groups FROM accounts WHERE user_id = ?",
          arguments: [userID])
      else { return AccountRecord() }
      let groups = (try? JSONDecoder().decode([String].self, from: Data((row[2] as String).utf8))) ?? []
      return AccountRecord(passwordHash: row[0], secondFactorOffUntil: row[1], groups: groups)
    }
  }

  public func updateAccount(userID: Int64, _ account: AccountRecord, audit: AuditEntry) throws(StoreError) {
    let groups = String(
      decoding: (try? JSONEncoder().encode(account.groups)) ?? Data("[]".utf8), as: UTF8.self)
    try write { db in
      try db.execute(
        sql: """
          INSERT INTO accounts (user_id, password_hash, second_factor_off_until, groups) VALUES (?, ?, ?, ?)
          ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
            second_factor_off_until = excluded.second_factor_off_until, groups = excluded.groups
          """, arguments: [userID, account.passwordHash, account.secondFactorOffUntil, groups])
      try Self.insert(audit, db)
    }
  }

  /// The user's failure counters by kind.
  static func attempts(_ db: Database, userID: Int64) throws -> [String: AttemptState] {
    var states: [String: AttemptState] = [:]
    for row in try Row.fetchAll(
      db.cachedStatement(
        sql: "SELECT kind, failures, throttled_until, version FROM attempts WHERE user_id = ?"),
      arguments: [userID])
    {
      states[row[0]] = AttemptState(failures: row[1], throttledUntil: row[2], version: row[3])
    }
    return states
  }

  /// Moves a failure counter from `expectedVersion` (0: a kind without a row, created here); the
  /// change count says whether it held.
  static func compareAndSetAttempts(
    _ db: Database, userID: Int64, kind: AttemptKind, expectedVersion: Int64, newState: AttemptState
  ) throws {
    if expectedVersion == 0 {
      try db.cachedStatement(
        sql:
          "INSERT INTO attempts (user_id, kind, failures, throttled_until, version) VALUES (?, ?, 0, NULL, 0) ON CONFLICT DO NOTHING"
      ).execute(arguments: [userID, kind.rawValue])
    }
    try db.cachedStatement(
      sql: """
        UPDATE attempts SET failures = ?, throttled_until = ?, version = version + 1
        WHERE user_id = ? AND kind = ? AND version = ?
        """
    ).execute(arguments: [newState.failures, newState.throttledUntil, userID, kind.rawValue, expectedVersion])
  }

  public func loginPolicy() throws(StoreError) -> LoginPolicy {
    try read { db in
      guard let text = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'login-policy'")
      else {
        return LoginPolicy()
      }
      guard let policy = try? JSONDecoder().decode(LoginPolicy.self, from: Data(text.utf8)) else {
        throw StoreError.corrupt("the login policy is not readable")
      }
      return policy
    }
  }

  public func setLoginPolicy(_ policy: LoginPolicy, audit: AuditEntry) throws(StoreError) {
    let text = String(decoding: (try? JSONEncoder().encode(policy)) ?? Data(), as: UTF8.self)
    try write { db in
      try db.execute(
        sql:
          "INSERT INTO settings (key, value) VALUES ('login-policy', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        arguments: [text])
      try Self.insert(audit, db)
    }
  }
}

extension SQLiteStore: BrowserSessionStore {
  public func insertSession(_ session: BrowserSession) throws(StoreError) {
    try write { db in
      try db.execute(
        sql: "DELETE FROM browser_sessions WHERE expires_at <= ?", arguments: [session.createdAt])
      try db.execute(
        sql: """
          INSERT INTO browser_sessions (id_hash, user_id, stage, csrf, created_at, expires_at)
          VALUES (?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          Data(session.idHash), session.userID, session.stage.rawValue, session.csrf, session.createdAt,
          session.expiresAt,
        ])
    }
  }

  public func session(idHash: [UInt8], now: Int64) throws(StoreError) -> BrowserSession? {
    try read { db in
      guard
        let row = try Row.fetchOne(
          db,
          sql: """
            SELECT s.user_id, u.name, s.stage, s.csrf, s.created_at, s.expires_at
            FROM browser_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id_hash = ? AND s.expires_at > ?
            """, arguments: [Data(idHash), now])
      else { return nil }
      guard let stage = BrowserSession.Stage(rawValue: row[2]) else {
        throw StoreError.corrupt("a browser session's stage")
      }
      return BrowserSession(
        idHash: idHash, userID: row[0], userName: row[1], stage: stage, csrf: row[3], createdAt: row[4],
        expiresAt: row[5])
    }
  }

  public func deleteSession(idHash: [UInt8]) throws(StoreError) {
    try write { db in
      try db.execute(sql: "DELETE FROM browser_sessions WHERE id_hash = ?", arguments: [Data(idHash)])
    }
  }

  public func deleteSessions(userID: Int64) throws(StoreError) {
    try write { db in
      try db.execute(sql: "DELETE FROM browser_sessions WHERE user_id = ?", arguments: [userID])
    }
  }
}
