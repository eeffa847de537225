import Foundation
import OneTimePassword
import Synchronization
import TestScratch
import Testing
import Verifier
import PostgresTestSupport
import VerifierPostgres
import VerifierSQLite

/// RFC 4226's test key.
public let rfcKey = Array("12345678901234567890".utf8)

/// A clock the test moves.
public final class ManualClock: VerifierClock, Sendable {
  public init() {}
  private let now = Atomic<Int64>(1_800_000_000_000)
  public func nowMilliseconds() -> Int64 { now.load(ordering: .relaxed) }
  public func advance(seconds: Int64) { now.add(seconds * 1000, ordering: .relaxed) }
}

/// A scratch folder removed when the test process exits.
public func temporaryDirectory() -> String { scratchDirectory("verifier") }

/// The stores every conformance and decision test runs against. PostgreSQL joins when
/// `OTPTOKEN_TEST_POSTGRES` names a server (`make test` starts one); `OTPTOKEN_REQUIRE_POSTGRES=1`
/// makes its absence a failure rather than a silent skip.
public enum StoreKind: String, CaseIterable, Sendable {
  case memory, sqlite, postgres

  public static var allCases: [StoreKind] {
    TestPostgres.url == nil ? [.memory, .sqlite] : [.memory, .sqlite, .postgres]
  }

  public func make() throws -> any Accounts.Store & ClientKeyStore { try makeShared().store }

  /// A fresh store, and a way to open another on the same database, as a second process or node
  /// would (the memory store, shared by no process, is its own second).
  public func makeShared() throws -> (
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
public struct Fixture {
  public let store: any Accounts.Store & ClientKeyStore
  public let keys = MasterKeyRing.generate()
  public let clock = ManualClock()
  public let verifier: HOTPVerifier
  /// The code step, as every caller reaches it.
  public let accounts: Accounts
  public let generator: HOTPGenerator
  public let serial = "12345678"

  public init(
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

  public static func audit(_ action: String) -> AuditEntry {
    AuditEntry(at: 0, user: "alice", factor: nil, action: action, result: "done", reason: action)
  }

  public func code(_ counter: UInt64) -> String { generator.code(counter: counter).text }

  public func verify(_ counter: UInt64) async throws -> Decision.Reason {
    try await accounts.verify(user: "alice", code: code(counter)).reason
  }

  public func verify(text: String) async throws -> Decision.Reason {
    try await accounts.verify(user: "alice", code: text).reason
  }

  public var state: HOTPState { try! store.hotpFactor(serial: serial)!.state }

  /// A code that is none of the next 100,000 counters' codes.
  public func wrongCode() -> String {
    var value: UInt32 = 0
    while generator.find(OTPCode(value: value, digits: generator.digits), from: 0, count: 100_000) != nil {
      value += 1
    }
    return OTPCode(value: value, digits: generator.digits).text
  }
}

/// A user's failure counters as the store holds them, read through the one verification job.
public func attempts(_ store: any VerifierStore, _ user: String) async throws -> [AttemptKind: AttemptState] {
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

/// "alice" with the RFC 4226 token, serial 1, counter 0.
public func seedAlice(_ store: any VerifierStore, _ keys: MasterKeyRing) throws {
  let user = try store.createUser(name: "alice", audit: Fixture.audit("user-add"))
  _ = try store.insertHOTPFactor(
    NewHOTPFactor(
      userID: user.id, serial: "1", digits: 6, algorithm: .sha1,
      sealedSecret: keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: "1")), counter: 0,
      active: true),
    audit: Fixture.audit("register"))
}

/// Sends each of alice's first `rounds` codes from `callers` tasks at once: exactly one may win.
public func raceEachCode(_ accounts: Accounts, rounds: Int, callers: Int = 16) async throws {
  let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
  for round in 0..<rounds {
    let code = generator.code(counter: UInt64(round)).text
    let answers = await withTaskGroup(of: Result<Bool, any Error>.self) { group in
      for _ in 0..<callers {
        group.addTask {
          do { return .success(try await accounts.verify(user: "alice", code: code).isAccepted) } catch {
            return .failure(error)
          }
        }
      }
      return await group.reduce(into: []) { $0.append($1) }
    }
    let accepted = answers.filter { (try? $0.get()) == true }.count
    let errors = answers.compactMap { if case .failure(let error) = $0 { "\(error)" } else { nil } }
    #expect(accepted == 1, "round \(round)")
    #expect(errors.isEmpty, "\(Set(errors))")
  }
}

/// What `oathtool --totp` (Debian's oath-toolkit, the reference client phone apps are checked
/// against) prints for this base32 secret at `unixTime`.
public func oathtool(_ secret: String, at unixTime: Int64) throws -> String {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = ["oathtool", "--totp", "-b", secret, "-N", "@\(unixTime)"]
  let pipe = Pipe()
  process.standardOutput = pipe
  try process.run()
  process.waitUntilExit()
  return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    .trimmingCharacters(in: .whitespacesAndNewlines)
}
