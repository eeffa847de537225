import Foundation
import OneTimePassword
import StoreFixtures
import Testing
@testable import Verifier

/// One user and every kind of attempt, on a store of each kind, for the code step and the attempt
/// accounting: a token ("1", RFC 4226 key), a confirmed phone app, recovery codes, an account
/// password and an application password, each on a user of its own so that only that kind is
/// tried.
struct KindFixture {
  let store: any Accounts.Store & ClientKeyStore
  let clock = ManualClock()
  let accounts: Accounts
  let settings: VerifierSettings

  init(_ kind: StoreKind, store: (any Accounts.Store & ClientKeyStore)? = nil) throws {
    self.store = try store ?? kind.make()
    var settings = VerifierSettings()
    settings.passwordRounds = 1000  // tests need no slow hash
    self.settings = settings
    accounts = Accounts(
      store: self.store,
      hotp: try HOTPVerifier(
        store: self.store, keys: MasterKeyRing.generate(), settings: settings, clock: clock))
  }

  var keys: MasterKeyRing { accounts.hotp.keys }

  /// A user with a token of `digits` digits, serial `serial`.
  func tokenUser(_ name: String, serial: String = "1", digits: Int = 6, key: [UInt8] = rfcKey) throws
    -> HOTPGenerator
  {
    let user = try store.createUser(name: name, audit: Fixture.audit("user-add"))
    _ = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: user.id, serial: serial, digits: digits, algorithm: .sha1,
        sealedSecret: keys.seal(key, context: HOTPVerifier.sealingContext(serial: serial)), counter: 0,
        active: true),
      audit: Fixture.audit("register"))
    return try HOTPGenerator(secret: OTPSecret(bytes: key), digits: digits)
  }

  /// A user with a confirmed phone app and nothing else.
  func phoneUser(_ name: String) async throws -> TOTPGenerator {
    try accounts.createUser(name: name)
    let uri = try accounts.enrollTOTP(user: name)
    let generator = try TOTPGenerator(secret: uri.secret)
    #expect(try accounts.confirmTOTP(user: name, code: generator.code(at: now).text).isAccepted)
    return generator
  }

  var now: Int64 { clock.nowMilliseconds() / 1000 }

  /// How the user's failures stand for the attempt `kind`: the counter and the audit lines of
  /// evaluated failures.
  func stored(_ kind: Kind, _ name: String) async throws -> (failures: Int, lines: Int) {
    let entries = try store.auditEntries(user: name, limit: 10_000)
    let user = try #require(try store.user(named: name))
    switch kind {
    case .token:
      let token = try #require(try store.hotpFactors(userID: user.id).first)
      return (token.state.failures, entries.filter { $0.reason == "wrong-code" }.count)
    case .phoneApp:
      let phone = try #require(try store.totpFactors(userID: user.id).first)
      return (phone.state.failures, entries.filter { $0.reason == "wrong-code" }.count)
    case .recoveryCode:
      return (
        try await attempts(store, name)[.recovery]?.failures ?? 0,
        entries.filter { $0.reason == "wrong-code" }.count
      )
    case .password, .appPassword:
      return (
        try await attempts(store, name)[.password]?.failures ?? 0,
        entries.filter { $0.reason == "wrong-password" }.count
      )
    }
  }

  /// The kinds of attempt a person makes.
  enum Kind: String, CaseIterable, Sendable {
    case token, phoneApp, recoveryCode, password, appPassword
  }

  /// A user who has only `kind`, a wrong attempt and a right one (`right` is asked for each use,
  /// so a one-time code is fresh).
  func user(for kind: Kind) async throws -> (
    name: String, wrong: @Sendable () async throws -> String, right: @Sendable () async throws -> Bool
  ) {
    let accounts = accounts
    let name = kind.rawValue
    switch kind {
    case .token:
      let generator = try tokenUser(name, serial: "token-\(name)")
      let counter = Counter()
      let wrong = Fixture.wrongCode(generator)
      return (
        name, { try await accounts.verify(user: name, code: wrong).reason.rawValue },
        {
          try await accounts.verify(user: name, code: generator.code(counter: counter.next()).text).isAccepted
        }
      )
    case .phoneApp:
      let generator = try await phoneUser(name)
      let clock = clock
      let window = (-1...1).map { generator.code(at: clock.nowMilliseconds() / 1000 + 30 * $0).value }
      let wrong = OTPCode(value: (0...).lazy.map(UInt32.init).first { !window.contains($0) }!, digits: 6).text
      return (
        name, { try await accounts.verify(user: name, code: wrong).reason.rawValue },
        {
          clock.advance(seconds: 30)
          return try await accounts.verify(
            user: name, code: generator.code(at: clock.nowMilliseconds() / 1000).text
          )
          .isAccepted
        }
      )
    case .recoveryCode:
      try accounts.createUser(name: name)
      let codes = try accounts.newRecoveryCodes(user: name)
      let wrong = codes.contains("zzzz-zzzz") ? "yyyy-yyyy" : "zzzz-zzzz"
      let counter = Counter()
      return (
        name, { try await accounts.verify(user: name, code: wrong).reason.rawValue },
        { try await accounts.verify(user: name, code: codes[Int(counter.next())]).isAccepted }
      )
    case .password:
      try accounts.createUser(name: name, password: "correct horse")
      return (
        name, { "\(try await accounts.login(user: name, password: "wrong horse", code: nil))" },
        {
          try await accounts.login(user: name, password: "correct horse", code: nil)
            == .allowed(via: "password")
        }
      )
    case .appPassword:
      try accounts.createUser(name: name)
      let password = try accounts.addAppPassword(user: name, label: "mail")
      return (
        name, { "\(try await accounts.login(user: name, password: "abcdefghijklmnop", code: nil))" },
        {
          try await accounts.login(user: name, password: password, code: nil)
            == .allowed(via: "app-password:mail")
        }
      )
    }
  }
}

/// A counter shared by closures.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var value: UInt64 = 0
  func next() -> UInt64 {
    lock.withLock {
      defer { value += 1 }; return value
    }
  }
}

extension Fixture {
  /// A 6-digit code none of the generator's first 100,000 counters gives.
  static func wrongCode(_ generator: HOTPGenerator) -> String {
    var value: UInt32 = 0
    while generator.find(OTPCode(value: value, digits: generator.digits), from: 0, count: 100_000) != nil {
      value += 1
    }
    return OTPCode(value: value, digits: generator.digits).text
  }
}

/// Every attempt is charged atomically with its evaluation, whatever kind it is.
@Suite struct AttemptAccountingTests {
  /// 64 wrong guesses at once, for each kind: no more are evaluated (answered as wrong) than the
  /// throttle allows before its first delay, the rest are refused unevaluated, and every evaluated
  /// failure is stored, with its audit line.
  @Test(arguments: StoreKind.allCases, KindFixture.Kind.allCases)
  func concurrentWrongGuessesEvaluateNoMoreThanTheThrottleAllows(kind: StoreKind, attempt: KindFixture.Kind)
    async throws
  {
    let f = try KindFixture(kind)
    let (name, wrong, _) = try await f.user(for: attempt)
    let answers = try await withThrowingTaskGroup(of: String.self) { group in
      for _ in 0..<64 { group.addTask { try await wrong() } }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    let evaluated = answers.filter { $0 == "wrong-code" || $0.contains("wrong user name or password") }.count
    #expect(
      evaluated == f.settings.throttleAfter, "\(Dictionary(grouping: answers, by: { $0 }).mapValues(\.count))"
    )
    #expect(answers.count == 64)
    let stored = try await f.stored(attempt, name)
    #expect(stored.failures == evaluated && stored.lines == evaluated)
  }

  /// A hundred wrong attempts lock a kind for good; `unlock` clears it, and the right attempt is
  /// then accepted. Before the unlock even the right one is refused, without saying so.
  @Test(arguments: StoreKind.allCases, KindFixture.Kind.allCases)
  func aHundredFailuresLockUntilUnlock(kind: StoreKind, attempt: KindFixture.Kind) async throws {
    let f = try KindFixture(kind)
    let (name, wrong, right) = try await f.user(for: attempt)
    for _ in 0..<100 {
      f.clock.advance(seconds: 1000)
      _ = try await wrong()
    }
    #expect(try await f.stored(attempt, name).failures == 100)
    f.clock.advance(seconds: 400 * 86_400)
    #expect(try await !right())
    try await f.accounts.unlock(user: name)
    #expect(try await right())
    #expect(try await f.stored(attempt, name).failures == 0)
    let actions = try f.store.auditEntries(user: name, limit: 10_000).map(\.action)
    #expect(actions.contains("lock") && actions.contains("unlock"))
  }
}

@Suite struct CodeStepTests {
  /// The second step takes what people type: spaces and dashes in a digit code, a recovery code
  /// through `verify`, and an 8-digit code of the digits 2-9 through `login`.
  @Test(arguments: StoreKind.allCases)
  func codesAsPeopleTypeThem(kind: StoreKind) async throws {
    let f = try KindFixture(kind)
    let six = try f.tokenUser("alice")
    #expect(six.code(counter: 0).text == "755224")
    #expect(try await f.accounts.verify(user: "alice", code: "755 224").reason == .accepted)
    #expect(try await f.accounts.verify(user: "alice", code: " 287-082\n").reason == .accepted)
    let recovery = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(recovery.allSatisfy { $0.contains(where: \.isLetter) })
    #expect(try await f.accounts.verify(user: "alice", code: recovery[0].uppercased()).reason == .accepted)
    #expect(try await f.accounts.verify(user: "alice", code: recovery[0]).reason == .replay)

    // An 8-digit token whose next code is made of the digits 2-9 only: a one-time code, never a
    // recovery code.
    let eight = try f.tokenUser("bob", serial: "8", digits: 8)
    let counter = try #require(
      (0..<UInt64(1000)).first { eight.code(counter: $0).text.allSatisfy { $0 >= "2" && $0 <= "9" } })
    try f.accounts.setPassword(user: "bob", password: "pw")
    let outcome = try await f.accounts.login(
      user: "bob", password: "pw", code: eight.code(counter: counter).text)
    #expect(outcome == .allowed(via: "hotp:8"))
  }

  /// Input that is no code of the user's is bad input: refused before anything is read or counted.
  @Test(arguments: StoreKind.allCases)
  func aCodeOfNoFactorsLengthIsBadInputAndCountsNothing(kind: StoreKind) async throws {
    let f = try KindFixture(kind)
    _ = try f.tokenUser("alice")
    let lines = try f.store.auditEntries(user: nil, limit: 1000).count
    for text in [
      "12345678", "1234567", "12345", "", "12a456", "abcd-efg", "1111-1111",
      String(repeating: "9", count: 100),
    ] {
      await #expect(throws: VerifierError.self, "\(text)") {
        try await f.accounts.verify(user: "alice", code: text)
      }
    }
    #expect(try f.store.hotpFactor(serial: "1")?.state == HOTPState(nextCounter: 0))
    #expect(try f.store.auditEntries(user: nil, limit: 1000).count == lines)
  }

  /// A store plans from its memory of a user before it reads, but never trusts it: another
  /// process or node (its own memory, the same database) moves the counter and then deletes the
  /// token, and every stale decision is made again on a fresh read. Each code is accepted once, a
  /// moved-on code is a replay, and a deleted token accepts nothing.
  @Test(arguments: StoreKind.allCases)
  func aRememberedReadIsNeverTrusted(kind: StoreKind) async throws {
    let (first, another) = try kind.makeShared()
    let a = try KindFixture(kind, store: first)
    let generator = try a.tokenUser("alice")
    let b = Accounts(
      store: try another(),
      hotp: try HOTPVerifier(store: try another(), keys: a.keys, settings: a.settings, clock: a.clock))
    let code = { generator.code(counter: $0).text }
    #expect(try await a.accounts.verify(user: "alice", code: code(0)).reason == .accepted)
    #expect(try await b.verify(user: "alice", code: code(1)).reason == .accepted)
    #expect(try await b.verify(user: "alice", code: code(2)).reason == .accepted)
    // a remembers the counter at 1, where code 1 would be good: it is a replay now.
    #expect(try await a.accounts.verify(user: "alice", code: code(1)).reason == .replay)
    #expect(try await a.accounts.verify(user: "alice", code: code(3)).reason == .accepted)
    #expect(try a.store.hotpFactor(serial: "1")?.state.nextCounter == 4)

    let token = try #require(try a.store.hotpFactor(serial: "1"))
    try b.store.deleteHOTPFactor(
      id: token.id,
      audit: AuditEntry(
        at: 0, user: "alice", factor: "hotp:1", action: "delete", result: "done", reason: "deleted"))
    #expect(try await a.accounts.verify(user: "alice", code: code(4)).reason == .noFactor)
    let acceptances = try a.store.auditEntries(user: "alice", limit: 100).filter { $0.result == "accepted" }
    #expect(acceptances.compactMap(\.counterBefore).sorted() == [0, 1, 2, 3])
  }

  /// A code a phone app accepts is never a failure of a token, and a token's acceptance charges no
  /// phone app: only evaluated refusals are charged, on every factor that evaluated the code.
  @Test(arguments: StoreKind.allCases)
  func aRefusalChargesEveryFactorThatEvaluatedIt(kind: StoreKind) async throws {
    let f = try KindFixture(kind)
    let token = try f.tokenUser("alice")
    let uri = try f.accounts.enrollTOTP(user: "alice")
    let phone = try TOTPGenerator(secret: uri.secret)
    #expect(try f.accounts.confirmTOTP(user: "alice", code: phone.code(at: f.now).text).isAccepted)
    f.clock.advance(seconds: 30)
    #expect(try await f.accounts.verify(user: "alice", code: phone.code(at: f.now).text).factor == "totp")
    #expect(try await f.accounts.verify(user: "alice", code: token.code(counter: 0).text).factor == "hotp:1")
    let summary = try f.accounts.factorSummary(user: "alice")
    #expect(summary.tokens[0].failures == 0 && summary.phoneApps[0].failures == 0)
    #expect(try await f.accounts.verify(user: "alice", code: Fixture.wrongCode(token)).reason == .wrongCode)
    let after = try f.accounts.factorSummary(user: "alice")
    #expect(after.tokens[0].failures == 1 && after.phoneApps[0].failures == 1)
  }
}

@Suite struct SubmittedCodeTests {
  /// The byte-level fast path answers only where the general parse gives the same code.
  @Test func fastPathAgreesWithTheGeneralParse() throws {
    var rng = SystemRandomNumberGenerator()
    let symbols = Array("0123456789  --a\t")
    var fast = 0
    for _ in 0..<20_000 {
      let text = String(
        (0..<Int.random(in: 0...11, using: &rng)).map { _ in symbols.randomElement(using: &rng)! })
      let general = try? SubmittedCode.parsed(text)
      if let code = SubmittedCode.digits(text.utf8) {
        fast += 1
        #expect(general == .digits(code), "\(text.debugDescription)")
      }
      #expect((try? SubmittedCode(text)) == general, "\(text.debugDescription)")
    }
    #expect(fast > 100)
  }

  @Test func digitCodesAsPeopleTypeThem() throws {
    #expect(try SubmittedCode("755 224") == .digits(OTPCode(value: 755_224, digits: 6)))
    #expect(try SubmittedCode("0755-2241") == .digits(OTPCode(value: 7_552_241, digits: 8)))
    #expect(try SubmittedCode(" 755224\n") == .digits(OTPCode(value: 755_224, digits: 6)))
    #expect(try SubmittedCode("ABCD-2345") == .recovery("abcd2345"))
    #expect(throws: VerifierError.self) { try SubmittedCode("75522") }
    #expect(throws: VerifierError.self) { try SubmittedCode("755224123") }
    #expect(try SubmittedCode("23456789") == .digits(OTPCode(value: 23_456_789, digits: 8)))
  }
}
