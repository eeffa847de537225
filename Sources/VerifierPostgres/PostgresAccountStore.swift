import Foundation
import NIOCore
import OneTimePassword
import PostgresNIO
import Verifier

extension PostgresStore: AccountStore {
  static let totpColumns = """
    id, user_id, secret, key_id, digits, period, algorithm, last_step, drift, failures, throttled_until,
    hard_locked, active, version
    """

  static let joinedTOTPColumns = totpColumns.split(separator: ",").map {
    "t." + $0.trimmingCharacters(in: .whitespacesAndNewlines)
  }.joined(separator: ", ")

  /// A phone-app factor from a row of ``totpColumns`` starting at column `b`.
  static func totp(_ row: PostgresRandomAccessRow, at b: Int = 0) throws -> TOTPFactorRecord {
    let name = try row[b + 6].decode(String.self)
    guard let algorithm = HashAlgorithm(rawValue: name) else {
      throw StoreError.corrupt("unknown algorithm \(name)")
    }
    return TOTPFactorRecord(
      id: try row[b + 0].decode(Int64.self), userID: try row[b + 1].decode(Int64.self),
      sealedSecret: SealedSecret(
        keyID: try row[b + 3].decode(String.self), combined: bytes(try row[b + 2].decode(ByteBuffer.self))),
      digits: try row[b + 4].decode(Int.self), period: try row[b + 5].decode(Int.self), algorithm: algorithm,
      state: TOTPState(
        lastStep: try row[b + 7].decode(Int64?.self), driftSteps: try row[b + 8].decode(Int64.self),
        failures: try row[b + 9].decode(Int.self), throttledUntil: try row[b + 10].decode(Int64?.self),
        hardLocked: try row[b + 11].decode(Bool.self), active: try row[b + 12].decode(Bool.self),
        version: try row[b + 13].decode(Int64.self)))
  }

  public func insertTOTPFactor(
    userID: Int64, sealedSecret: SealedSecret, digits: Int, period: Int, algorithm: HashAlgorithm,
    audit: AuditEntry
  ) throws(StoreError) -> TOTPFactorRecord {
    try transaction { t in
      try t.run("DELETE FROM totp_factors WHERE user_id = \(userID) AND NOT active")
      let row = try t.run(
        """
        INSERT INTO totp_factors (user_id, secret, key_id, digits, period, algorithm)
        VALUES (\(userID), \(ByteBuffer(bytes: sealedSecret.combined)), \(sealedSecret.keyID), \(digits), \
        \(period), \(algorithm.rawValue))
        RETURNING \(unescaped: Self.totpColumns)
        """
      ).rows[0]
      try t.run(Self.auditQuery(audit))
      return try Self.totp(row.makeRandomAccess())
    }
  }

  public func totpFactors(userID: Int64) throws(StoreError) -> [TOTPFactorRecord] {
    try decodedRows(
      run("SELECT \(unescaped: Self.totpColumns) FROM totp_factors WHERE user_id = \(userID) ORDER BY id"),
      { try Self.totp($0) })
  }

  public func compareAndSetTOTP(
    factorID: Int64, expectedVersion: Int64, newState: TOTPState, audit: AuditEntry
  )
    throws(StoreError) -> Bool
  {
    try write(Self.compareAndSetTOTPQuery(factorID, expectedVersion, newState, audit)).metadata.rows == 1
  }

  /// A phone app's compare-and-set and its audit line as one statement.
  static func compareAndSetTOTPQuery(
    _ factorID: Int64, _ expectedVersion: Int64, _ s: TOTPState, _ audit: AuditEntry
  ) -> PostgresQuery {
    """
    WITH moved AS (
      UPDATE totp_factors SET last_step = \(s.lastStep), drift = \(s.driftSteps), failures = \(s.failures), \
    throttled_until = \(s.throttledUntil), hard_locked = \(s.hardLocked), active = \(s.active), \
    version = version + 1
      WHERE id = \(factorID) AND version = \(expectedVersion)
      RETURNING id
    )
    \(unescaped: insertAuditColumns)
    SELECT \(audit.at), \(audit.user), \(audit.factor), \(audit.action), \(audit.result), \(audit.reason), \
    \(audit.counterBefore.map { Int64(bitPattern: $0) }), \(audit.counterAfter.map { Int64(bitPattern: $0) }), \
    \(audit.source) FROM moved
    """
  }

  public func removeTOTPFactor(userID: Int64, factorID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try transaction { t in
      let deleted = try t.run("DELETE FROM totp_factors WHERE id = \(factorID) AND user_id = \(userID)")
      guard deleted.metadata.rows == 1 else { return false }
      try t.run(Self.auditQuery(audit))
      return true
    }
  }

  public func replaceRecoveryCodes(userID: Int64, hashes: [[UInt8]], audit: AuditEntry) throws(StoreError) {
    try transaction { t in
      try t.run("DELETE FROM recovery_codes WHERE user_id = \(userID)")
      for hash in hashes {
        try t.run("INSERT INTO recovery_codes (user_id, hash) VALUES (\(userID), \(ByteBuffer(bytes: hash)))")
      }
      try t.run(Self.auditQuery(audit))
    }
  }

  public func remainingRecoveryCodes(userID: Int64) throws(StoreError) -> Int {
    let rows = try run("SELECT count(*) FROM recovery_codes WHERE user_id = \(userID) AND used_at IS NULL")
    return try decoding { try rows.rows[0].decode(Int.self) }
  }

  public func addAppPassword(userID: Int64, name: String, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try transaction { t in
      let inserted = try t.run(
        """
        INSERT INTO app_passwords (user_id, name, hash, created_at)
        VALUES (\(userID), \(name), \(ByteBuffer(bytes: hash)), \(at)) ON CONFLICT (user_id, name) DO NOTHING
        """)
      guard inserted.metadata.rows == 1 else { throw StoreError.conflict("application password \(name)") }
      try t.run(Self.auditQuery(audit))
    }
  }

  public func revokeAppPassword(userID: Int64, name: String, audit: AuditEntry) throws(StoreError) -> Bool {
    try transaction { t in
      let deleted = try t.run("DELETE FROM app_passwords WHERE user_id = \(userID) AND name = \(name)")
      guard deleted.metadata.rows == 1 else { return false }
      try t.run(Self.auditQuery(audit))
      return true
    }
  }

  public func useAppPassword(userID: Int64, hash: [UInt8], at: Int64, audit: AuditEntry) throws(StoreError)
    -> String?
  {
    try transaction { t in
      let rows = try t.run(
        """
        UPDATE app_passwords SET last_used_at = \(at)
        WHERE user_id = \(userID) AND hash = \(ByteBuffer(bytes: hash)) RETURNING name
        """)
      guard let row = rows.first else { return nil }
      try t.run(Self.auditQuery(audit))
      return try row.decode(String.self)
    }
  }

  public func appPasswords(userID: Int64) throws(StoreError) -> [AppPasswordRecord] {
    try decodedRows(
      run(
        "SELECT name, created_at, last_used_at FROM app_passwords WHERE user_id = \(userID) ORDER BY name")
    ) {
      AppPasswordRecord(
        name: try $0[0].decode(String.self), createdAt: try $0[1].decode(Int64.self),
        lastUsedAt: try $0[2].decode(Int64?.self))
    }
  }

  public func account(userID: Int64) throws(StoreError) -> AccountRecord {
    let rows = try run(
      "SELECT password_hash, second_factor_off_until, groups FROM accounts WHERE user_id = \(userID)")
    return try decodedRows(rows) {
      let groupsText = try $0[2].decode(String.self)
      let groups = (try? JSONDecoder().decode([String].self, from: Data(groupsText.utf8))) ?? []
      return AccountRecord(
        passwordHash: try $0[0].decode(String?.self), secondFactorOffUntil: try $0[1].decode(Int64?.self),
        groups: groups)
    }.first ?? AccountRecord()
  }

  public func updateAccount(userID: Int64, _ account: AccountRecord, audit: AuditEntry) throws(StoreError) {
    let groups = String(
      decoding: (try? JSONEncoder().encode(account.groups)) ?? Data("[]".utf8), as: UTF8.self)
    try transaction { t in
      try t.run(
        """
        INSERT INTO accounts (user_id, password_hash, second_factor_off_until, groups)
        VALUES (\(userID), \(account.passwordHash), \(account.secondFactorOffUntil), \(groups))
        ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash,
          second_factor_off_until = excluded.second_factor_off_until, groups = excluded.groups
        """)
      try t.run(Self.auditQuery(audit))
    }
  }

  public func loginPolicy() throws(StoreError) -> LoginPolicy {
    let rows = try run("SELECT value FROM settings WHERE key = 'login-policy'")
    guard let row = rows.first else { return LoginPolicy() }
    let text = try decoding { try row.decode(String.self) }
    guard let policy = try? JSONDecoder().decode(LoginPolicy.self, from: Data(text.utf8)) else {
      throw .corrupt("the login policy is not readable")
    }
    return policy
  }

  public func setLoginPolicy(_ policy: LoginPolicy, audit: AuditEntry) throws(StoreError) {
    let text = String(decoding: (try? JSONEncoder().encode(policy)) ?? Data(), as: UTF8.self)
    try transaction { t in
      try t.run(
        """
        INSERT INTO settings (key, value) VALUES ('login-policy', \(text))
        ON CONFLICT (key) DO UPDATE SET value = excluded.value
        """)
      try t.run(Self.auditQuery(audit))
    }
  }
}

extension PostgresStore: ClientKeyStore {
  public func insertClientKey(name: String, scope: ClientScope, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try transaction { t in
      let inserted = try t.run(
        """
        INSERT INTO client_keys (name, scope, hash, created_at)
        VALUES (\(name), \(scope.rawValue), \(ByteBuffer(bytes: hash)), \(at)) ON CONFLICT (name) DO NOTHING
        """)
      guard inserted.metadata.rows == 1 else { throw StoreError.conflict("API key \(name)") }
      try t.run(Self.auditQuery(audit))
    }
  }

  public func clientKey(hash: [UInt8]) throws(StoreError) -> ClientKeyRecord? {
    try decodedRows(
      run(
        "SELECT name, scope, created_at, revoked_at FROM client_keys WHERE hash = \(ByteBuffer(bytes: hash))"),
      Self.clientKey
    ).first
  }

  public func revokeClientKey(name: String, at: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try transaction { t in
      let revoked = try t.run(
        "UPDATE client_keys SET revoked_at = \(at) WHERE name = \(name) AND revoked_at IS NULL")
      guard revoked.metadata.rows == 1 else { return false }
      try t.run(Self.auditQuery(audit))
      return true
    }
  }

  public func clientKeys() throws(StoreError) -> [ClientKeyRecord] {
    try decodedRows(
      run("SELECT name, scope, created_at, revoked_at FROM client_keys ORDER BY name"), Self.clientKey)
  }

  static func clientKey(_ row: PostgresRandomAccessRow) throws -> ClientKeyRecord {
    let scopeName = try row[1].decode(String.self)
    guard let scope = ClientScope(rawValue: scopeName) else {
      throw StoreError.corrupt("unknown API key scope \(scopeName)")
    }
    return ClientKeyRecord(
      name: try row[0].decode(String.self), scope: scope, createdAt: try row[2].decode(Int64.self),
      revokedAt: try row[3].decode(Int64?.self))
  }
}

extension PostgresStore: BrowserSessionStore {
  public func insertSession(_ session: BrowserSession) throws(StoreError) {
    try transaction { t in
      try t.run("DELETE FROM browser_sessions WHERE expires_at <= \(session.createdAt)")
      try t.run(
        """
        INSERT INTO browser_sessions (id_hash, user_id, stage, csrf, created_at, expires_at)
        VALUES (\(ByteBuffer(bytes: session.idHash)), \(session.userID), \(session.stage.rawValue), \
        \(session.csrf), \(session.createdAt), \(session.expiresAt))
        """)
    }
  }

  public func session(idHash: [UInt8], now: Int64) throws(StoreError) -> BrowserSession? {
    let rows = try run(
      """
      SELECT s.user_id, u.name, s.stage, s.csrf, s.created_at, s.expires_at
      FROM browser_sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id_hash = \(ByteBuffer(bytes: idHash)) AND s.expires_at > \(now)
      """)
    return try decodedRows(rows) { row in
      guard let stage = BrowserSession.Stage(rawValue: try row[2].decode(String.self)) else {
        throw StoreError.corrupt("a browser session's stage")
      }
      return BrowserSession(
        idHash: idHash, userID: try row[0].decode(Int64.self), userName: try row[1].decode(String.self),
        stage: stage, csrf: try row[3].decode(String.self), createdAt: try row[4].decode(Int64.self),
        expiresAt: try row[5].decode(Int64.self))
    }.first
  }

  public func deleteSession(idHash: [UInt8]) throws(StoreError) {
    try write("DELETE FROM browser_sessions WHERE id_hash = \(ByteBuffer(bytes: idHash))")
  }

  public func deleteSessions(userID: Int64) throws(StoreError) {
    try write("DELETE FROM browser_sessions WHERE user_id = \(userID)")
  }
}
