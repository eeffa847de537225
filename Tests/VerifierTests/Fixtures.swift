import Foundation
import OneTimePassword
import Synchronization
import TestScratch
import Testing
import Verifier
import PostgresTestSupport
import VerifierPostgres
import VerifierSQLite

let rfcKey = Array("12345678901234567890".utf8)

/// A clock the test moves.
final class ManualClock: VerifierClock, Sendable {
  private let now = Atomic<Int64>(1_800_000_000_000)
  func nowMilliseconds() -> Int64 { now.load(ordering: .relaxed) }
  func advance(seconds: Int64) { now.add(seconds * 1000, ordering: .relaxed) }
}

func temporaryDirectory() -> String { scratchDirectory("verifier") }

/// The stores every conformance and decision test runs against. PostgreSQL joins when
/// `OTPTOKEN_TEST_POSTGRES` names a server (`make test` starts one); `OTPTOKEN_REQUIRE_POSTGRES=1`
/// makes its absence a failure rather than a silent skip.
enum StoreKind: String, CaseIterable, Sendable {
  case memory, sqlite, postgres

  static var allCases: [StoreKind] {
    TestPostgres.url == nil ? [.memory, .sqlite] : [.memory, .sqlite, .postgres]
  }

  func make() throws -> any Accounts.Store & ClientKeyStore { try makeShared().store }

  /// A fresh store, and a way to open another on the same database, as a second process or node
  /// would (the memory store, shared by no process, is its own second).
  func makeShared() throws -> (
    store: any Accounts.Store & ClientKeyStore, another: () throws -> any Accounts.Store & ClientKeyStore
  ) {
    switch self {
    case .memory:
      let store = MemoryStore()
      return (store, { store })
    case .sqlite:
      let path = temporaryDirectory() + "/verifier.sqlite"
      return (try SQLiteStore(path: path), { try SQLiteStore(path: path) })
    case .postgres:
      let url = try TestPostgres.freshDatabase().url
      let open = { try PostgresStore(location: PostgresLocation(url: url), connections: 8) }
      return (try open(), open)
    }
  }
}

/// A verifier with one user, "alice", holding one HOTP token.
struct Fixture {
  let store: any Accounts.Store & ClientKeyStore
  let keys = MasterKeyRing.generate()
  let clock = ManualClock()
  let verifier: HOTPVerifier
  /// The code step, as every caller reaches it.
  let accounts: Accounts
  let generator: HOTPGenerator
  let serial = "12345678"

  init(
    _ kind: StoreKind, settings: VerifierSettings = VerifierSettings(), key: [UInt8] = rfcKey,
    digits: Int = 6,
    algorithm: HashAlgorithm = .sha1, counter: UInt64 = 0
  ) throws {
    store = try kind.make()
    verifier = try HOTPVerifier(store: store, keys: keys, settings: settings, clock: clock)
    accounts = Accounts(store: store, hotp: verifier)
    generator = try HOTPGenerator(secret: OTPSecret(bytes: key), algorithm: algorithm, digits: digits)
    let user = try store.createUser(name: "alice", audit: Self.audit("user-add"))
    _ = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: user.id, serial: serial, digits: digits, algorithm: algorithm,
        sealedSecret: keys.seal(key, context: HOTPVerifier.sealingContext(serial: serial)), counter: counter,
        active: true),
      audit: Self.audit("register"))
  }

  static func audit(_ action: String) -> AuditEntry {
    AuditEntry(at: 0, user: "alice", factor: nil, action: action, result: "done", reason: action)
  }

  func code(_ counter: UInt64) -> String { generator.code(counter: counter).text }

  func verify(_ counter: UInt64) async throws -> Decision.Reason {
    try await accounts.verify(user: "alice", code: code(counter)).reason
  }

  func verify(text: String) async throws -> Decision.Reason {
    try await accounts.verify(user: "alice", code: text).reason
  }

  var state: HOTPState { try! store.hotpFactor(serial: serial)!.state }

  /// A code that is none of the next 100,000 counters' codes.
  func wrongCode() -> String {
    var value: UInt32 = 0
    while generator.find(OTPCode(value: value, digits: generator.digits), from: 0, count: 100_000) != nil {
      value += 1
    }
    return OTPCode(value: value, digits: generator.digits).text
  }
}

/// A user's failure counters as the store holds them, read through the one verification job.
func attempts(_ store: any VerifierStore, _ user: String) async throws -> [AttemptKind: AttemptState] {
  let read = Mutex<[AttemptKind: AttemptState]>([:])
  let job = VerificationJob(userName: user, reads: .attempts) { snapshot in
    read.withLock { states in
      for kind in AttemptKind.allCases { states[kind] = snapshot.attempts(kind) }
    }
    return VerificationPlan(decision: Decision(reason: .accepted), writes: [])
  }
  _ = try await store.runVerification(job)
  return read.withLock { $0 }
}
