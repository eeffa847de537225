import Foundation
import Hummingbird
import HummingbirdTesting
import NIOPosix
import OneTimePassword
import Synchronization
import TestScratch
import Testing
import Verifier
import VerifierSQLite
import VerifierService

@testable import VerifierWeb

/// The verifier's clock, moved by the test.
final class TestClock: VerifierClock, Sendable {
  private let value = Mutex<Int64>(1_800_000_000_000)
  func nowMilliseconds() -> Int64 { value.withLock { $0 } }
  func advance(milliseconds: Int64) { value.withLock { $0 += milliseconds } }
}

/// The pages over a fresh SQLite store: alice (password and the RFC 4226 token), root (password,
/// administrators' group) and dave (password only).
struct PageFixture {
  let store: SQLiteStore
  let accounts: Accounts
  let clock = TestClock()
  let threads: NIOThreadPool
  let router: Router<ServiceRequestContext>
  let generator: HOTPGenerator

  init(options: WebPages.Options = WebPages.Options()) throws {
    store = try SQLiteStore(path: scratchDirectory("web") + "/verifier.sqlite")
    let keys = MasterKeyRing.generate()
    var settings = VerifierSettings()
    settings.passwordRounds = 1000
    let hotp = try HOTPVerifier(store: store, keys: keys, settings: settings, clock: clock)
    accounts = Accounts(store: store, hotp: hotp)
    try accounts.createUser(name: "alice", password: "alice pw")
    try accounts.createUser(name: "root", password: "root pw")
    try accounts.setGroups(user: "root", groups: ["admins"])
    try accounts.createUser(name: "dave", password: "dave pw")
    let alice = try #require(try store.user(named: "alice"))
    _ = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: alice.id, serial: "4226", digits: 6, algorithm: .sha1,
        sealedSecret: keys.seal(
          Array("12345678901234567890".utf8), context: HOTPVerifier.sealingContext(serial: "4226")),
        counter: 0, active: true),
      audit: AuditEntry(at: 0, user: "alice", factor: nil, action: "register", result: "done", reason: "test")
    )
    generator = try HOTPGenerator(secret: OTPSecret(bytes: Array("12345678901234567890".utf8)))
    threads = NIOThreadPool(numberOfThreads: 2)
    threads.start()
    let api = VerifierAPI(accounts: accounts, clientKeys: ClientKeys(store: store), threads: threads)
    router = api.makeRouter()
    try WebPages(api: api, options: options).register(on: router)
  }

  func code(_ counter: UInt64) -> String { generator.code(counter: counter).text }

  func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    try await Application(router: router).test(.router) { client in try await body(client) }
    try await threads.shutdownGracefully()
  }
}

/// A browser's memory: its cookies, and the CSRF token of the last page.
final class Browser: @unchecked Sendable {
  var cookies: [String: String] = [:]
  var setCookies: [String] = []
  var csrf = ""
  var last = ""
  var location: String?
  var status: HTTPResponse.Status = .ok
  let client: any TestClientProtocol
  let language: String

  init(_ client: any TestClientProtocol, language: String = "en") {
    self.client = client
    self.language = language
  }

  func get(_ path: String) async throws { try await send(path, .get, nil) }

  /// Posts `fields` with the page's CSRF token (unless `csrf` is given).
  func post(_ path: String, _ fields: [String: String], csrf: String? = nil) async throws {
    var all = fields
    all["csrf"] = csrf ?? self.csrf
    let body = all.map { name, value in
      "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
    }.joined(separator: "&")
    try await send(path, .post, body)
  }

  func send(_ path: String, _ method: HTTPRequest.Method, _ body: String?) async throws {
    var headers: HTTPFields = [.acceptLanguage: language]
    if !cookies.isEmpty {
      headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }
    if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
    try await client.execute(
      uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
    ) { response in
      self.status = response.status
      self.location = response.headers[.location]
      self.setCookies = response.headers[values: .setCookie]
      for cookie in self.setCookies {
        let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1)
        let (name, value) = (String(pair[0]), pair.count > 1 ? String(pair[1]) : "")
        self.cookies[name] = value.isEmpty ? nil : value
      }
      self.last = String(buffer: response.body)
      if let match = self.last.firstMatch(of: /name="csrf" value="([^"]+)"/) { self.csrf = String(match.1) }
    }
  }

  func cookie(_ name: String) -> String? { setCookies.first { $0.hasPrefix(name + "=") } }
}

@Suite struct PageTests {
  @Test func signInWithAPasswordThenATokensCodeStartsAFreshSession() async throws {
    let f = try PageFixture()
    let (store, code0) = (f.store, f.code(0))
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      let pre = try #require(browser.cookie("otp_pre"))
      #expect(pre.contains("HttpOnly") && pre.contains("SameSite=Strict") && !pre.contains("Secure"))
      #expect(browser.last.contains(#"autocomplete="username""#))
      #expect(browser.last.contains(#"autocomplete="current-password""#))
      try await browser.post("/signin", ["user": "alice", "password": "alice pw"])
      #expect(browser.status == .seeOther && browser.location == "/signin/code")
      let halfway = try #require(browser.cookies["otp_session"])
      #expect(try #require(browser.cookie("otp_session")).contains("HttpOnly; SameSite=Strict"))
      try await browser.get("/account")
      #expect(browser.location == "/signin/code", "half signed in is not signed in")
      try await browser.get("/signin/code")
      #expect(browser.last.contains(#"autocomplete="one-time-code""#) && browser.last.contains("autofocus"))
      try await browser.post("/signin/code", ["code": "999999"])
      #expect(browser.status == .ok && browser.last.contains(#"class="error""#))
      try await browser.post("/signin/code", ["code": code0])
      #expect(browser.status == .seeOther && browser.location == "/account")
      let signedIn = try #require(browser.cookies["otp_session"])
      #expect(signedIn != halfway)
      #expect(!(try #require(browser.cookie("otp_session")).contains("Max-Age")), "ends with the browser")
      try await browser.get("/account")
      #expect(browser.status == .ok && browser.last.contains("USB token 4226"))
      // The half-signed-in session is gone from the store.
      #expect(try store.session(idHash: BrowserSession.hash(halfway), now: 1_800_000_000_000) == nil)
      try await browser.post("/signout", [:])
      #expect(browser.location == "/signin")
      #expect(try store.session(idHash: BrowserSession.hash(signedIn), now: 1_800_000_000_000) == nil)
    }
    let audit = try store.auditEntries(user: "alice", limit: 10)
    #expect(audit.contains { $0.result == "accepted" && $0.source?.hasPrefix("web@") == true })
  }

  @Test func aFormWithoutItsTokenChangesNothing() async throws {
    let f = try PageFixture()
    let store = f.store
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "dave", "password": "dave pw"], csrf: "forged")
      #expect(browser.status == .forbidden && browser.cookies["otp_session"] == nil)
      try await browser.post("/signin", ["user": "dave", "password": "dave pw"])
      #expect(browser.location == "/account")
      try await browser.get("/account")
      try await browser.post("/account/recovery", [:], csrf: "forged")
      #expect(browser.status == .forbidden)
    }
    #expect(try store.remainingRecoveryCodes(userID: try #require(try store.user(named: "dave")).id) == 0)
  }

  @Test func rememberMeLastsTheAdministratorsLimitAndCookiesAreSecureOverTLS() async throws {
    let f = try PageFixture(options: WebPages.Options(rememberDays: 7, secureCookies: true))
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "dave", "password": "dave pw", "remember": "1"])
      let cookie = try #require(browser.cookie("otp_session"))
      #expect(cookie.contains("Max-Age=\(7 * 86_400)") && cookie.contains("; Secure"))
    }
  }

  @Test func wrongPasswordsAreChargedAndAnswerLikeAnUnknownName() async throws {
    let f = try PageFixture()
    try await f.test { client in
      let browser = Browser(client, language: "ru-RU,ru;q=0.9")
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "alice", "password": "wrong"])
      let wrong = browser.last.replacingOccurrences(of: browser.csrf, with: "")
      try await browser.post("/signin", ["user": "nobody", "password": "wrong"])
      let unknown = browser.last.replacingOccurrences(of: browser.csrf, with: "")
      #expect(wrong.contains("Неверное имя пользователя или пароль"))
      #expect(
        wrong.replacingOccurrences(of: "alice", with: "X")
          == unknown.replacingOccurrences(of: "nobody", with: "X"))
    }
    let attempts = try await attemptsOf(f.store, "alice")
    #expect(attempts == 1)
  }

  @Test func aChallengeOfAnotherProgramIsNoBrowserSession() async throws {
    let f = try PageFixture()
    guard
      case .challenge(let id, _) = try await f.accounts.validate(
        user: "alice", pass: "alice pw", transaction: nil, field: .password, source: nil)
    else { throw CancellationError() }
    let code = f.code(0)
    try await f.test { client in
      let browser = Browser(client)
      browser.cookies["otp_session"] = id
      try await browser.get("/signin/code")
      #expect(browser.location == "/signin")
      try await browser.post("/signin/code", ["code": code], csrf: "x")
      #expect(browser.location == "/signin")
    }
    #expect(try f.store.hotpFactor(serial: "4226")?.state.nextCounter == 0)
  }

  @Test func anApplicationPasswordNeverSignsABrowserIn() async throws {
    let f = try PageFixture()
    let password = try f.accounts.addAppPassword(user: "alice", label: "mail")
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "alice", "password": password])
      #expect(browser.status == .ok && browser.cookies["otp_session"] == nil)
    }
  }

  @Test func whatAUserTypedIsEscaped() async throws {
    let f = try PageFixture()
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": #"<script>alert("x")</script>"#, "password": "p"])
      #expect(!browser.last.contains("<script>"))
      #expect(browser.last.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
    }
  }

  @Test func pastTheDeadlineAUserWithoutAFactorCanOnlyEnrol() async throws {
    let f = try PageFixture()
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .everyone, deadline: 1_700_000_000_000))
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "dave", "password": "dave pw"])
      #expect(browser.location == "/account")
      try await browser.get("/account")
      #expect(browser.last.contains("Two-step login is mandatory for your account"))
      #expect(!browser.last.contains("/account/recovery"), "only enrolment is offered")
      try await browser.post("/account/recovery", [:])
      #expect(browser.location == "/signin", "nothing but enrolment is open")
    }
  }

  @Test func beforeTheDeadlineAUserWithoutAFactorIsLetInWithANotice() async throws {
    let f = try PageFixture()
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .everyone, deadline: 1_900_000_000_000))
    try await f.test { client in
      let browser = Browser(client)
      try await browser.get("/signin")
      try await browser.post("/signin", ["user": "dave", "password": "dave pw"])
      try await browser.get("/account")
      #expect(browser.last.contains("Two-step login becomes mandatory on 2030-03-17"))
      #expect(browser.last.contains("/account/recovery"))
    }
  }

  @Test func theAdministratorsPagesExistOnlyForAdministrators() async throws {
    let f = try PageFixture()
    try await f.test { client in
      let dave = Browser(client)
      try await dave.get("/signin")
      try await dave.post("/signin", ["user": "dave", "password": "dave pw"])
      try await dave.get("/admin/users")
      #expect(dave.status == .notFound)
      try await dave.post("/admin/users/alice/delete", ["confirm": "alice"])
      #expect(dave.status == .notFound)
      let root = Browser(client)
      try await root.get("/signin")
      try await root.post("/signin", ["user": "root", "password": "root pw"])
      try await root.get("/admin/users")
      #expect(root.status == .ok && root.last.contains(#"href="/admin/users/alice""#))
      try await root.get("/admin/users/alice")
      try await root.post("/admin/users/alice/delete", ["confirm": "wrong"])
      #expect(root.status == .ok && root.last.contains(#"class="error""#))
      try await root.post("/admin/users/alice/delete", ["confirm": "alice"])
      #expect(root.location == "/admin/users")
    }
    #expect(try f.store.user(named: "alice") == nil)
    #expect(try f.store.user(named: "dave") != nil)
  }

  @Test func changingThePasswordSignsOutOtherBrowsers() async throws {
    let f = try PageFixture()
    try await f.test { client in
      let first = Browser(client)
      let second = Browser(client)
      for browser in [first, second] {
        try await browser.get("/signin")
        try await browser.post("/signin", ["user": "dave", "password": "dave pw"])
      }
      try await first.get("/account")
      try await first.post("/account/password", ["current": "dave pw", "new": "n", "repeat": "m"])
      #expect(first.last.contains("The new passwords differ"))
      try await first.post("/account/password", ["current": "dave pw", "new": "new pw", "repeat": "new pw"])
      #expect(first.location == "/account?done=password")
      try await first.get("/account")
      #expect(first.status == .ok)
      try await second.get("/account")
      #expect(second.location == "/signin")
    }
  }
}

/// The password failures the store holds for a user.
func attemptsOf(_ store: any VerifierStore, _ user: String) async throws -> Int {
  let count = Mutex(0)
  let job = VerificationJob(userName: user, reads: .attempts) { snapshot in
    count.withLock { $0 = snapshot.attempts(.password).failures }
    return VerificationPlan(decision: Decision(reason: .accepted), writes: [])
  }
  _ = try await store.runVerification(job)
  return count.withLock { $0 }
}
