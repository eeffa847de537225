import Logging
import PostgresNIO
import Verifier

/// The PostgreSQL schema as named migrations, applied in order and never edited once shipped.
/// The same tables as the SQLite store, in PostgreSQL's types.
enum Schema {
  /// The advisory lock every node takes before migrating, so nodes starting together migrate once.
  static let migrationLock: Int64 = 0x6F74_7074_6F6B

  static let migrations: [(name: String, statements: [String])] = [
    (
      "2026-11-21-users",
      [
        """
        CREATE TABLE users (
          id BIGSERIAL PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          created_at BIGINT NOT NULL
        )
        """
      ]
    ),
    (
      "2026-11-21-hotp-factors",
      [
        """
        CREATE TABLE hotp_factors (
          id BIGSERIAL PRIMARY KEY,
          user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
          serial TEXT NOT NULL UNIQUE,
          digits BIGINT NOT NULL CHECK (digits BETWEEN 6 AND 8),
          algorithm TEXT NOT NULL,
          secret BYTEA NOT NULL,
          key_id TEXT NOT NULL,
          active BOOLEAN NOT NULL,
          next_counter BIGINT NOT NULL,
          failures BIGINT NOT NULL DEFAULT 0,
          throttled_until BIGINT,
          hard_locked BOOLEAN NOT NULL DEFAULT FALSE,
          pending_counter BIGINT,
          pending_expiry BIGINT,
          version BIGINT NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX hotp_factors_user ON hotp_factors(user_id)",
      ]
    ),
    (
      "2026-11-21-audit",
      [
        """
        CREATE TABLE audit (
          id BIGSERIAL PRIMARY KEY,
          at BIGINT NOT NULL,
          "user" TEXT,
          factor TEXT,
          action TEXT NOT NULL,
          result TEXT NOT NULL,
          reason TEXT NOT NULL,
          counter_before BIGINT,
          counter_after BIGINT,
          source TEXT
        )
        """,
        "CREATE INDEX audit_user ON audit(\"user\", id)",
        """
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
        """,
        """
        CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()
        """,
        """
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()
        """,
      ]
    ),
    (
      "2026-11-21-accounts",
      [
        """
        CREATE TABLE totp_factors (
          id BIGSERIAL PRIMARY KEY,
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          secret BYTEA NOT NULL,
          key_id TEXT NOT NULL,
          digits BIGINT NOT NULL CHECK (digits BETWEEN 6 AND 8),
          period BIGINT NOT NULL CHECK (period > 0),
          algorithm TEXT NOT NULL,
          last_step BIGINT,
          drift BIGINT NOT NULL DEFAULT 0,
          failures BIGINT NOT NULL DEFAULT 0,
          throttled_until BIGINT,
          hard_locked BOOLEAN NOT NULL DEFAULT FALSE,
          active BOOLEAN NOT NULL DEFAULT FALSE,
          version BIGINT NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX totp_factors_user ON totp_factors(user_id)",
        """
        CREATE TABLE recovery_codes (
          id BIGSERIAL PRIMARY KEY,
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          hash BYTEA NOT NULL,
          used_at BIGINT
        )
        """,
        "CREATE INDEX recovery_codes_user ON recovery_codes(user_id, hash)",
        """
        CREATE TABLE app_passwords (
          id BIGSERIAL PRIMARY KEY,
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          hash BYTEA NOT NULL,
          created_at BIGINT NOT NULL,
          last_used_at BIGINT,
          UNIQUE (user_id, name)
        )
        """,
        "CREATE INDEX app_passwords_user ON app_passwords(user_id, hash)",
        """
        CREATE TABLE accounts (
          user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
          password_hash TEXT,
          second_factor_off_until BIGINT,
          groups TEXT NOT NULL DEFAULT '[]'
        )
        """,
        """
        CREATE TABLE attempts (
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          kind TEXT NOT NULL,
          failures BIGINT NOT NULL,
          throttled_until BIGINT,
          version BIGINT NOT NULL,
          PRIMARY KEY (user_id, kind)
        )
        """,
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
      ]
    ),
    (
      "2026-11-22-client-keys",
      [
        """
        CREATE TABLE client_keys (
          id BIGSERIAL PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          scope TEXT NOT NULL,
          hash BYTEA NOT NULL UNIQUE,
          created_at BIGINT NOT NULL,
          revoked_at BIGINT
        )
        """
      ]
    ),
    (
      "2026-11-29-browser-sessions",
      [
        """
        CREATE TABLE browser_sessions (
          id_hash BYTEA PRIMARY KEY,
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          stage TEXT NOT NULL,
          csrf TEXT NOT NULL,
          created_at BIGINT NOT NULL,
          expires_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX browser_sessions_user ON browser_sessions(user_id)",
        "CREATE INDEX browser_sessions_expiry ON browser_sessions(expires_at)",
      ]
    ),
    (
      // Auto-resync now remembers the last missed code (masked), not a counter found by a scan;
      // a counter left from before means nothing under the new rule and is dropped.
      "2026-11-29-pending-miss",
      [
        "ALTER TABLE hotp_factors RENAME COLUMN pending_counter TO pending_miss",
        "UPDATE hotp_factors SET pending_miss = NULL, pending_expiry = NULL",
      ]
    ),
  ]

  /// Applies the migrations this database lacks, holding the advisory lock: a node that starts
  /// while another migrates waits, then finds nothing left to do. The lock is the session's, so a
  /// node that dies mid-migration releases it (and its open transaction rolls back). The wait for
  /// the lock is part of the call, so it ends at the store's call time limit.
  static func migrate(_ lease: ConnectionPool.Lease) throws {
    let unlock: PostgresQuery = "SELECT pg_advisory_unlock(\(migrationLock))"
    try lease.query("SELECT pg_advisory_lock(\(migrationLock))")
    do { try applyMissing(lease) } catch {
      _ = try? lease.query(unlock)
      throw error
    }
    // An unlock that fails fails the call: the pool then discards the connection, and the server
    // releases the lock with its session, rather than the lock going back to the pool still held.
    try lease.query(unlock)
  }

  /// The migrations not yet recorded in `schema_migrations`, each in a transaction of its own.
  private static func applyMissing(_ lease: ConnectionPool.Lease) throws {
    try lease.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)")
    let applied = Set(
      try lease.query("SELECT name FROM schema_migrations").map {
        try $0.decode(String.self)
      })
    for migration in migrations where !applied.contains(migration.name) {
      try lease.query("BEGIN")
      do {
        for statement in migration.statements {
          try lease.query(PostgresQuery(unsafeSQL: statement))
        }
        try lease.query(
          "INSERT INTO schema_migrations (name, applied_at) VALUES (\(migration.name), (extract(epoch FROM now()) * 1000)::bigint)"
        )
        try lease.query("COMMIT")
      } catch {
        _ = try? lease.query("ROLLBACK")
        throw error
      }
    }
  }
}
