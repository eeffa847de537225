import Foundation
import OneTimePassword
import PostgresNIO
import PostgresTestSupport
import Synchronization
import StoreFixtures
import Testing
import Verifier
@testable import VerifierPostgres

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
    #expect(try TestPostgres.psql(database.url, "SELECT count(*) FROM schema_migrations") == "7")
    #expect(
      try TestPostgres.psql(database.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        == "12")
  }

  @Test func sixteenConnectionsRacingAcceptEachCodeOnce() async throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 16)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    try await raceEachCode(Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys)), rounds: 150)
    let log = try store.auditEntries(user: "alice", limit: 10_000).filter { $0.result == "accepted" }
    #expect(log.count == 150 && Set(log.compactMap(\.counterBefore)).count == 150)
  }

  /// Many more callers than connections (so most queue for one, and the batched statements carry
  /// several verifications): still exactly one acceptance per code.
  @Test func callersThatDoNotBlockQueueForFewConnectionsAndAcceptEachCodeOnce() async throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 3)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    let accounts = try Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys))
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    for round in 0..<60 {
      let code = generator.code(counter: UInt64(round)).text
      let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
        for _ in 0..<12 {
          group.addTask { try await accounts.verify(user: "alice", code: code).isAccepted }
        }
        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
      }
      #expect(accepted == 1, "round \(round)")
    }
    let log = try store.auditEntries(user: "alice", limit: 10_000).filter { $0.result == "accepted" }
    #expect(log.count == 60)
  }

  /// A connection cut in the middle of a verification (its write waits on a lock):
  /// a clear error, nothing written, and the next verification reconnects and decides.
  @Test func aConnectionCutUnderANonBlockingVerificationLeavesNothing() async throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(location: PostgresLocation(url: database.url), connections: 1)
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    let accounts = try Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys))
    let code = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey)).code(counter: 0).text
    let holder = try LockHolder(url: database.url, table: "audit")
    let job = Task { try await accounts.verify(user: "alice", code: code) }
    // Bounded wait for the job to block on the lock, then cut its connection.
    #expect(try terminateTheSessionWaitingOnALock(database))
    // Released first, so a job that was never cut finishes (and fails the checks) instead of hanging.
    try holder.release()
    let outcome = await job.result
    guard case .failure(let error) = outcome, case .store(.unavailable)? = error as? VerifierError else {
      Issue.record("expected the store to be unavailable, got \(outcome)")
      return
    }
    try await expectUnmovedThenAccepted(store, accounts, code)
  }

  /// Several verifications' moves in one statement, as the batcher sends them under load: each
  /// stands alone. A move whose version holds moves its token and writes its audit line; a stale
  /// version, a user with a phone app and a token that is gone move nothing and write nothing, and
  /// come back with their user's tokens as they are now, to decide again on.
  @Test func movesSharingAStatementEachStandAlone() throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 1)
    let keys = MasterKeyRing.generate()
    let accounts = try Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys))
    var tokens: [String: HOTPFactorRecord] = [:]
    for name in ["alice", "bob", "carol", "dave"] {
      let user = try store.createUser(name: name, audit: Fixture.audit("user-add"))
      tokens[name] = try store.insertHOTPFactor(
        NewHOTPFactor(
          userID: user.id, serial: name, digits: 6, algorithm: .sha1,
          sealedSecret: keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: name)), counter: 0,
          active: true),
        audit: Fixture.audit("register"))
    }
    _ = try accounts.enrollTOTP(user: "carol")
    // Another node moves bob's token first.
    let bob = try #require(tokens["bob"])
    var bobMoved = bob.state
    bobMoved.nextCounter = 3
    #expect(
      try store.compareAndSet(
        factorID: bob.id, expectedVersion: bob.state.version, newState: bobMoved,
        audit: Fixture.audit("other")))
    var gone = try #require(tokens["alice"])
    gone.id = 999_999

    let results = try store.moves.run([
      acceptance("alice", of: try #require(tokens["alice"]), to: 5), acceptance("bob", of: bob, to: 5),
      acceptance("carol", of: try #require(tokens["carol"]), to: 5), acceptance("nobody", of: gone, to: 5),
      acceptance("dave", of: try #require(tokens["dave"]), to: 7),
    ]).wait()

    #expect(results.map(\.moved) == [true, false, false, false, true])
    for (name, counter) in [("alice", 5), ("bob", 3), ("carol", 0), ("dave", 7)] {
      let now = try #require(try store.hotpFactor(serial: name))
      #expect(now.state.nextCounter == UInt64(counter), "\(name)")
      #expect(now.state.version == tokens[name]!.state.version + (counter == 0 ? 0 : 1), "\(name)")
    }
    let lines = try store.auditEntries(user: nil, limit: 100).filter { $0.action == "verify" }
    #expect(lines.compactMap(\.user).sorted() == ["alice", "dave"])
    // The fresh reads: bob's token as the other node left it, carol's phone app, no user "nobody";
    // nothing for the moves that applied.
    let base = MoveBatcher.freshBase
    let fresh = try PostgresStore.factor(try #require(results[1].fresh.first), at: base + 3)
    bobMoved.version += 1
    #expect(fresh.state == bobMoved && fresh.serial == "bob")
    #expect(try results[1].fresh[0][base + 2].decode(Bool.self) == false)
    #expect(try results[2].fresh[0][base + 2].decode(Bool.self) == true)
    #expect(results[3].fresh.count == 1 && results[3].fresh[0][base].isNull)
    #expect(results[0].fresh.count == 1 && results[0].fresh[0][base].isNull)
  }

  /// A write is reported done only once committed. PostgreSQL answers a statement run outside a
  /// transaction block before it commits it; here the commit itself fails (a deferred trigger
  /// refuses the audit line, as a server stopping at that moment would lose it): every kind of
  /// write, the service's verification paths included, fails clearly and at once (never by
  /// running out its time limit), and nothing of it holds.
  @Test(.timeLimit(.minutes(2))) func aWriteWhoseCommitFailsIsNeverReportedDone() async throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(
      location: PostgresLocation(url: database.url), connections: 1, callTimeout: .seconds(20))
    // The time-out's own message, as the pool words it: a reworded message cannot slip past.
    let timedOut = ConnectionPool.CallTimedOut(seconds: 20).description
    let failedWithoutTimingOut: @Sendable (any Error) -> Bool = { error in
      (error is StoreError || error is VerifierError || error is PSQLError)
        && !"\(error)".contains(timedOut)
    }
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

    #expect(performing: { try store.append(refused) }, throws: failedWithoutTimingOut)
    #expect(
      performing: {
        try store.compareAndSet(
          factorID: token.id, expectedVersion: token.state.version, newState: moved, audit: refused)
      }, throws: failedWithoutTimingOut)
    let move = MoveBatcher.Move(
      compareAndSet: .init(
        factorID: token.id, expectedVersion: token.state.version, state: moved, audit: refused),
      userName: "alice")
    #expect(performing: { try store.moves.run([move]).wait() }, throws: failedWithoutTimingOut)
    #expect(try store.hotpFactor(serial: "1") == token)
    #expect(try store.auditEntries(user: nil, limit: 1000).count == lines)

    // The verification's paths: code 0 is accepted (the connection was replaced), code 1's
    // acceptance (to counter 2) fails at commit, decided from the remembered read (the store that
    // accepted code 0) and from a fresh one (a second node's store).
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    let remembering = try Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys))
    #expect(try await remembering.verify(user: "alice", code: generator.code(counter: 0).text).isAccepted)
    let other = try PostgresStore(
      location: PostgresLocation(url: database.url), connections: 1, callTimeout: .seconds(20))
    for accounts in [remembering, try Accounts(store: other, hotp: HOTPVerifier(store: other, keys: keys))] {
      await #expect(
        performing: { try await accounts.verify(user: "alice", code: generator.code(counter: 1).text) },
        throws: failedWithoutTimingOut)
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
    let accounts = try Accounts(store: store, hotp: HOTPVerifier(store: store, keys: keys))
    let code = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey)).code(counter: 0).text

    let holder = try LockHolder(url: database.url, table: "hotp_factors")
    #expect {
      try store.hotpFactor(serial: "1")
    } throws: { error in
      guard case .unavailable = error as? StoreError else { return false }
      return true
    }
    await #expect(throws: VerifierError.self) { try await accounts.verify(user: "alice", code: code) }
    try holder.release()

    try await expectUnmovedThenAccepted(store, accounts, code)
  }

  /// postgres-nio drops a request written to a connection that has closed and never answers it;
  /// it closes the connection itself when a commit fails behind a completed statement, and the
  /// server closes it on a restart. Such a request fails at once as a closed connection, on the
  /// blocking and the futures path, instead of waiting out the call's time limit, and the next
  /// call gets a new connection.
  @Test(.timeLimit(.minutes(1))) func aRequestOnAClosedConnectionFailsAtOnce() throws {
    let store = try PostgresStore(
      location: PostgresLocation(url: TestPostgres.freshDatabase().url), connections: 1,
      callTimeout: .seconds(20))
    #expect {
      try store.pool.with { lease in
        try lease.wait(lease.connection.close())
        try lease.committed()
      }
    } throws: { error in
      guard case .unavailable(let message) = error as? StoreError else { return false }
      return message.hasSuffix(ConnectionPool.ConnectionClosed().description)
    }
    #expect {
      try store.pool.withConnection { connection in
        connection.close().flatMap { store.pool.committed(on: connection) }
      }.wait()
    } throws: { error in
      error is ConnectionPool.ConnectionClosed
    }
    try store.pool.with { try $0.committed() }
  }

  /// Moves arriving while a statement runs wait for it and go out together: at most 16 to a
  /// statement, a token at most once in one. Here the first statement waits on a lock while 40 more
  /// moves arrive, one of them a second move of the same token; each token moves exactly once.
  @Test func movesArrivingTogetherShareStatements() throws {
    let database = try TestPostgres.freshDatabase()
    let store = try PostgresStore(
      location: PostgresLocation(url: database.url), connections: 4, batchesInFlight: 1)
    let keys = MasterKeyRing.generate()
    let tokens = try (0..<40).map { index in
      let user = try store.createUser(name: "user\(index)", audit: Fixture.audit("user-add"))
      return try store.insertHOTPFactor(
        NewHOTPFactor(
          userID: user.id, serial: "t\(index)", digits: 6, algorithm: .sha1,
          sealedSecret: keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: "t\(index)")),
          counter: 0, active: true),
        audit: Fixture.audit("register"))
    }
    func move(_ token: HOTPFactorRecord) -> MoveBatcher.Move {
      acceptance("user\(token.serial.dropFirst())", of: token, to: 1)
    }

    let moves = tokens.flatMap { $0.serial == "t3" ? [move($0), move($0)] : [move($0)] }
    let holder = try LockHolder(url: database.url, table: "audit")
    let results = moves.map { store.moves.apply($0) }
    try holder.release()
    let moved = try results.map { try $0.wait().moved }

    // t0 alone; then t1…t16 (the second t3 waits); the second t3 and t17…t31; t32…t39.
    #expect(store.moves.statements == 4)
    #expect(moved.filter { $0 }.count == 40 && moved[4] == false)
    for token in tokens {
      #expect(try store.hotpFactor(serial: token.serial)?.state.version == token.state.version + 1)
    }
    #expect(try store.auditEntries(user: nil, limit: 1000).filter { $0.action == "verify" }.count == 40)
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

/// A batched move accepting `token` for user `name`: the token moves to `counter`, with its audit line.
func acceptance(_ name: String, of token: HOTPFactorRecord, to counter: UInt64) -> MoveBatcher.Move {
  var state = token.state
  state.nextCounter = counter
  let audit = AuditEntry(
    at: 1, user: name, factor: token.serial, action: "verify", result: "accepted", reason: "ok",
    counterBefore: token.state.nextCounter, counterAfter: counter, source: "test")
  return MoveBatcher.Move(
    compareAndSet: .init(
      factorID: token.id, expectedVersion: token.state.version, state: state, audit: audit),
    userName: name)
}

/// After a failed verification: alice's token has not moved, and the same code is now accepted.
func expectUnmovedThenAccepted(_ store: PostgresStore, _ accounts: Accounts, _ code: String) async throws {
  #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 0)
  #expect(try await accounts.verify(user: "alice", code: code).isAccepted)
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
