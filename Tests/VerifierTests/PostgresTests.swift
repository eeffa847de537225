import Foundation
import OneTimePassword
import PostgresTestSupport
import Synchronization
import Testing
import Verifier
import VerifierPostgres

/// What only the PostgreSQL store has to prove: nodes migrating together, many connections racing
/// on one code, and a connection lost in the middle of a transaction. (The conformance, decision
/// and account suites run on it too, through ``StoreKind``.)
@Suite(.serialized, .enabled(if: TestPostgres.url != nil)) struct PostgresTests {
  @Test func severalNodesStartingTogetherMigrateOnce() throws {
    let database = try TestPostgres.freshDatabase()
    let opened = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 6) { _ in
      if (try? PostgresStore(location: PostgresLocation(url: database.url), connections: 1)) != nil {
        opened.add(1, ordering: .relaxed)
      }
    }
    #expect(opened.load(ordering: .relaxed) == 6)
    #expect(try TestPostgres.psql(database.url, "SELECT count(*) FROM schema_migrations") == "5")
    #expect(
      try TestPostgres.psql(database.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        == "11")
  }

  @Test func sixteenConnectionsRacingAcceptEachCodeOnce() throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 16)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    try raceEachCode(HOTPVerifier(store: store, keys: keys), rounds: 150)
    let log = try store.auditEntries(user: "alice", limit: 10_000).filter { $0.result == "accepted" }
    #expect(log.count == 150 && Set(log.compactMap(\.counterBefore)).count == 150)
  }

  /// The service's path: verifications that wait on futures instead of threads, many more callers
  /// than connections (so most queue for one). Still exactly one acceptance per code.
  @Test func callersThatDoNotBlockQueueForFewConnectionsAndAcceptEachCodeOnce() async throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 3)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    let verifier = try HOTPVerifier(store: store, keys: keys)
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    for round in 0..<60 {
      let code = generator.code(counter: UInt64(round)).text
      let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
        for _ in 0..<12 {
          group.addTask {
            guard
              case .decided(let decision)? = try await verifier.verifyIfNoPhoneAppsWithoutBlocking(
                user: "alice", code: code)
            else { throw StoreError.unavailable("the PostgreSQL store declined to decide") }
            return decision.isAccepted
          }
        }
        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
      }
      #expect(accepted == 1, "round \(round)")
    }
    let log = try store.auditEntries(user: "alice", limit: 10_000).filter { $0.result == "accepted" }
    #expect(log.count == 60)
  }

  /// A connection cut in the middle of a non-blocking verification (its write waits on a lock):
  /// a clear error, nothing written, and the next verification reconnects and decides.
  @Test func aConnectionCutUnderANonBlockingVerificationLeavesNothing() async throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(location: PostgresLocation(url: database.url), connections: 1)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    let verifier = try HOTPVerifier(store: store, keys: keys)
    let code = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey)).code(counter: 0).text
    let holder = try LockHolder(url: database.url, table: "audit")
    let job = Task { try await verifier.verifyIfNoPhoneAppsWithoutBlocking(user: "alice", code: code) }
    // Bounded wait for the job to block on the lock, then cut its connection.
    #expect(try terminateTheSessionWaitingOnALock(database))
    // Released first, so a job that was never cut finishes (and fails the checks) instead of hanging.
    try holder.release()
    let outcome = await job.result
    guard case .failure(let error) = outcome, case .store(.unavailable)? = error as? VerifierError else {
      Issue.record("expected the store to be unavailable, got \(outcome)")
      return
    }
    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 0)
    guard
      case .decided(let decision)? = try await verifier.verifyIfNoPhoneAppsWithoutBlocking(
        user: "alice", code: code)
    else {
      Issue.record("the store declined to decide")
      return
    }
    #expect(decision.isAccepted)
  }

  /// A write is reported done only once committed. PostgreSQL answers a statement run outside a
  /// transaction block before it commits it; here the commit itself fails (a deferred trigger
  /// refuses the audit line, as a server stopping at that moment would lose it): every kind of
  /// write, the service's verification paths included, fails clearly and nothing of it holds.
  @Test func aWriteWhoseCommitFailsIsNeverReportedDone() async throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(location: PostgresLocation(url: database.url), connections: 1)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    _ = try TestPostgres.psql(
      database.url,
      """
      CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.reason = 'refused-at-commit' OR NEW.counter_after = 2 THEN
          RAISE EXCEPTION 'refused at commit';
        END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON audit DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();
      """)
    let token = try #require(try store.hotpFactor(serial: "1"))
    var moved = token.state
    moved.nextCounter = 1
    let refused = AuditEntry(
      at: 1, user: "alice", factor: "1", action: "verify", result: "accepted", reason: "refused-at-commit")
    let lines = try store.auditEntries(user: nil, limit: 1000).count

    #expect(throws: StoreError.self) { try store.append(refused) }
    #expect(throws: StoreError.self) {
      try store.compareAndSet(
        factorID: token.id, expectedVersion: token.state.version, newState: moved, audit: refused)
    }
    #expect(try store.hotpFactor(serial: "1") == token)
    #expect(try store.auditEntries(user: nil, limit: 1000).count == lines)

    // The service's paths: code 0 is accepted (the connection was replaced), code 1's acceptance
    // (to counter 2) fails at commit, decided from the remembered read and from a fresh one.
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    let remembering = try HOTPVerifier(store: store, keys: keys)
    guard
      case .decided(let first)? = try await remembering.verifyIfNoPhoneAppsWithoutBlocking(
        user: "alice", code: generator.code(counter: 0).text)
    else {
      Issue.record("the store declined to decide")
      return
    }
    #expect(first.isAccepted)
    for verifier in [remembering, try HOTPVerifier(store: store, keys: keys)] {
      await #expect(throws: VerifierError.self) {
        try await verifier.verifyIfNoPhoneAppsWithoutBlocking(
          user: "alice", code: generator.code(counter: 1).text)
      }
      #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 1)
    }
  }

  /// A call that outlasts its time limit (here a read waiting on a lock held elsewhere, as on a
  /// connection that stopped answering) fails as unavailable instead of waiting for good, on both
  /// the blocking and the futures path, and the next call works on a new connection.
  @Test(.timeLimit(.minutes(1))) func aCallPastItsTimeLimitFailsAndTheNextOneWorks() async throws {
    let database = try TestPostgres.freshDatabase()
    let keys = MasterKeyRing.generate()
    try seedAlice(PostgresStore(location: PostgresLocation(url: database.url)), keys)
    let store = try PostgresStore(
      location: PostgresLocation(url: database.url), connections: 1, callTimeout: .seconds(2))
    let verifier = try HOTPVerifier(store: store, keys: keys)
    let code = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey)).code(counter: 0).text

    let holder = try LockHolder(url: database.url, table: "hotp_factors")
    #expect {
      try store.hotpFactor(serial: "1")
    } throws: { error in
      guard case .unavailable = error as? StoreError else { return false }
      return true
    }
    await #expect(throws: VerifierError.self) {
      try await verifier.verifyIfNoPhoneAppsWithoutBlocking(user: "alice", code: code)
    }
    try holder.release()

    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 0)
    guard
      case .decided(let decision)? = try await verifier.verifyIfNoPhoneAppsWithoutBlocking(
        user: "alice", code: code)
    else {
      Issue.record("the store declined to decide")
      return
    }
    #expect(decision.isAccepted)
  }

  @Test func anUnreachableServerIsAClearError() throws {
    let url = try #require(TestPostgres.url).replacingOccurrences(
      of: "host=/tmp/", with: "host=/tmp/otptoken-no-such-")
    #expect {
      try PostgresStore(location: PostgresLocation(url: url))
    } throws: { error in
      guard case .unavailable(let why) = error as? StoreError else { return false }
      return why.contains("PostgreSQL postgres at /tmp/otptoken-no-such-")
    }
    #expect(throws: StoreError.unavailable("not a postgres:// URL")) {
      try PostgresLocation(url: "mysql://localhost/db")
    }
  }

  /// A connection cut while its transaction waits: the call fails as "unavailable", the server
  /// rolls the transaction back (no token of the import exists), and the next call reconnects.
  @Test func aConnectionLostMidTransactionLeavesNothing() throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(location: PostgresLocation(url: database.url), connections: 2)
    let keys = MasterKeyRing.generate()
    let factors = try (1...3).map {
      NewHOTPFactor(
        userID: nil, serial: "cut-\($0)", digits: 6, algorithm: .sha1,
        sealedSecret: try keys.seal(rfcKey, context: "hotp:cut-\($0)"), counter: 0, active: false)
    }
    // Another session holds the audit table, so the import's last statement waits.
    let holder = try LockHolder(url: database.url, table: "audit")
    let outcome = Mutex<Result<Void, StoreError>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      do {
        try store.importHOTPFactors(factors, replace: false, audit: Fixture.audit("import"))
        outcome.withLock { $0 = .success(()) }
      } catch let error as StoreError { outcome.withLock { $0 = .failure(error) } } catch {}
      done.signal()
    }
    // Bounded wait for the import to block on the lock, then cut its connection.
    #expect(try terminateTheSessionWaitingOnALock(database))
    #expect(done.wait(timeout: .now() + 30) == .success)
    try holder.release()
    let result = try #require(outcome.withLock { $0 })
    guard case .failure(.unavailable) = result else {
      Issue.record("expected an unavailable error, got \(result)")
      return
    }
    #expect(try store.hotpFactor(serial: "cut-1") == nil)
    #expect(try TestPostgres.psql(database.url, "SELECT count(*) FROM hotp_factors") == "0")
    // The pool replaced the connection: the same import now succeeds.
    try store.importHOTPFactors(factors, replace: false, audit: Fixture.audit("import"))
    #expect(try store.hotpFactor(serial: "cut-3") != nil)
  }

  @Test func theAuditLogIsAppendOnly() throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(location: PostgresLocation(url: database.url))
    try store.append(Fixture.audit("something"))
    for sql in ["UPDATE audit SET reason = 'x'", "DELETE FROM audit", "TRUNCATE audit"] {
      #expect(try TestPostgres.refuses(database.url, sql), "\(sql) was allowed")
    }
    #expect(try store.auditEntries(user: nil, limit: 10).count == 1)
  }
}

@Test func postgresRunsWhenRequired() {
  if ProcessInfo.processInfo.environment["OTPTOKEN_REQUIRE_POSTGRES"] == "1" {
    #expect(TestPostgres.url != nil, "make test must start a PostgreSQL server for these suites")
  }
}

/// Waits (boundedly: up to 500 polls 20 ms apart) for a session of `database` to wait on a lock,
/// and terminates it; false if none ever waited.
func terminateTheSessionWaitingOnALock(_ database: (name: String, url: String)) throws -> Bool {
  for _ in 0..<500 {
    let terminated = try TestPostgres.psql(
      database.url,
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database.name)' AND wait_event_type = 'Lock'"
    )
    if terminated == "t" { return true }
    usleep(20_000)
  }
  return false
}

/// A psql session holding an exclusive lock on a table until released.
final class LockHolder {
  let process = Process()
  let input = Pipe()
  let output = Pipe()

  init(url: String, table: String) throws {
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", "-X", "-q", "-tA", "-d", url]
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    try input.fileHandleForWriting.write(
      contentsOf: Data("BEGIN;\nLOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n".utf8))
    var seen = Data()
    while !String(decoding: seen, as: UTF8.self).contains("locked") {
      let chunk = output.fileHandleForReading.availableData
      try #require(!chunk.isEmpty, "psql ended before taking the lock")
      seen.append(chunk)
    }
  }

  func release() throws {
    try input.fileHandleForWriting.write(contentsOf: Data("ROLLBACK;\n\\q\n".utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
  }
}
