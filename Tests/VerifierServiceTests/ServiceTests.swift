import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import OneTimePassword
import Synchronization
import TestScratch
import Testing
import Verifier
import VerifierSQLite
import VerifierService

#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif

let rfcKey = Array("12345678901234567890".utf8)

/// A monotonic clock the test moves, for the rate limiters.
final class TestSeconds: Sendable {
  private let value = Mutex<Double>(1000)
  var now: Double { value.withLock { $0 } }
  func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
}

/// The verifier's clock, stopped where the test puts it.
final class StoppedClock: VerifierClock, Sendable {
  private let value = Mutex<Int64>(1_800_000_000_000)
  func nowMilliseconds() -> Int64 { value.withLock { $0 } }
}

/// The service over a fresh SQLite store holding "alice" with the RFC 4226 token, an admin key
/// and a verify-only key. The verifier's clock stands still, so a throttle's delay never ends.
struct ServiceFixture {
  let store: SQLiteStore
  let accounts: Accounts
  let verifierClock = StoppedClock()
  let api: VerifierAPI
  let threads: NIOThreadPool
  let admin: String
  let verifyOnly: String
  let clock = TestSeconds()
  let generator: HOTPGenerator

  init(limits: VerifierAPI.Limits = .init(perAddress: (0, 0), perUser: (0, 0))) throws {
    let folder = scratchDirectory("service")
    store = try SQLiteStore(path: folder + "/verifier.sqlite")
    let keys = MasterKeyRing.generate()
    var settings = VerifierSettings()
    settings.passwordRounds = 1000
    let hotp = try HOTPVerifier(store: store, keys: keys, settings: settings, clock: verifierClock)
    let accounts = Accounts(store: store, hotp: hotp)
    self.accounts = accounts
    try accounts.createUser(name: "alice", password: "correct horse")
    let alice = try #require(try store.user(named: "alice"))
    _ = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: alice.id, serial: "4226", digits: 6, algorithm: .sha1,
        sealedSecret: keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: "4226")), counter: 0,
        active: true),
      audit: AuditEntry(at: 0, user: "alice", factor: nil, action: "register", result: "done", reason: "test")
    )
    generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey), algorithm: .sha1, digits: 6)
    let clientKeys = ClientKeys(store: store)
    admin = try clientKeys.issue(name: "console", scope: .admin)
    verifyOnly = try clientKeys.issue(name: "webshop", scope: .verify)
    threads = NIOThreadPool(numberOfThreads: 2)
    threads.start()
    let clock = clock
    api = VerifierAPI(
      accounts: accounts, clientKeys: clientKeys, threads: threads, limits: limits,
      monotonicSeconds: { clock.now })
  }

  func code(_ counter: UInt64) -> String { generator.code(counter: counter).text }

  /// Runs `body` against the router in process (or, `live`, a server on a loopback port), then
  /// stops the thread pool.
  func test(live: Bool = false, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws
  {
    let app = Application(router: api.makeRouter())
    try await app.test(live ? .live : .router) { client in try await body(client) }
    try await threads.shutdownGracefully()
  }
}

func bearer(_ key: String) -> HTTPFields {
  [.authorization: "Bearer \(key)", .contentType: "application/json"]
}

func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

/// The JSON object answered, empty if the body is not one.
func object(_ response: TestResponse) -> [String: Any] {
  ((try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any]) ?? [:]
}

/// The stable error code of an error answer.
func errorCode(_ response: TestResponse) -> String? {
  let body = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
  return (body?["error"] as? [String: Any])?["code"] as? String
}

@Suite struct ServiceTests {
  @Test func verifyAcceptsOnceThenRefusesTheReplay() async throws {
    let f = try ServiceFixture()
    let key = f.verifyOnly
    let code = f.code(0)
    try await f.test { client in
      let body = json(#"{"user": "alice", "code": "\#(code)"}"#)
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
        response in
        #expect(response.status == .ok)
        let answer = object(response)
        #expect(answer["result"] as? String == "accepted" && answer["counter"] as? Int == 0)
      }
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
        response in
        let answer = object(response)
        #expect(answer["result"] as? String == "refused" && answer["reason"] as? String == "replay")
      }
      try await client.execute(uri: "/metrics", method: .get) { response in
        let text = String(buffer: response.body)
        #expect(
          text.contains(#"otptoken_decisions_total{route="verify",result="accepted",reason="accepted"} 1"#))
        #expect(text.contains(#"result="refused",reason="replay"} 1"#))
        #expect(text.contains("otptoken_verify_duration_seconds_bucket"))
        #expect(text.contains(#"otptoken_http_responses_total{status="200"} 2"#))
      }
    }
    // The decision was made by the store: the audit log says so, with the client as source.
    let accepted = try f.store.auditEntries(user: "alice", limit: 10).filter { $0.result == "accepted" }
    #expect(accepted.count == 1 && accepted[0].source?.hasPrefix("webshop@") == true)
  }

  @Test func keysAreRequiredScopedAndRevocable() async throws {
    let f = try ServiceFixture()
    let (admin, verifyOnly, store, clock) = (f.admin, f.verifyOnly, f.store, f.clock)
    try await f.test { client in
      let body = json(#"{"user": "alice", "code": "000000"}"#)
      // No key, a malformed key, an unknown key, a valid key given twice.
      var twice = bearer(verifyOnly)
      twice[values: .authorization] = ["Bearer \(verifyOnly)", "Bearer \(verifyOnly)"]
      for headers: HTTPFields in [
        [.contentType: "application/json"], [.authorization: "Bearer nonsense"],
        [.authorization: "Bearer otk_" + String(repeating: "0", count: 64)], [.authorization: "Basic abc"],
        twice,
      ] {
        try await client.execute(uri: "/v1/verify", method: .post, headers: headers, body: body) { response in
          #expect(response.status == .unauthorized)
          #expect(errorCode(response) == "unauthenticated")
        }
      }
      // A verify-only key may verify but not administer.
      try await client.execute(uri: "/v1/users", method: .get, headers: bearer(verifyOnly)) { response in
        #expect(response.status == .forbidden)
        #expect(errorCode(response) == "forbidden")
      }
      try await client.execute(
        uri: "/v1/users", method: .post, headers: bearer(verifyOnly), body: json(#"{"name": "mallory"}"#)
      ) { response in
        #expect(response.status == .forbidden)
      }
      try await client.execute(uri: "/v1/users", method: .get, headers: bearer(admin)) { response in
        #expect(response.status == .ok)
        #expect(object(response)["users"] as? [String] == ["alice"])
      }
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(verifyOnly), body: body) {
        #expect($0.status == .ok)
      }
      // Revoked: still trusted from the node's one-second key cache, refused once it expires.
      try ClientKeys(store: store).revoke(name: "webshop")
      clock.advance(0.5)
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(verifyOnly), body: body) {
        #expect($0.status == .ok)
      }
      clock.advance(0.51)
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(verifyOnly), body: body) {
        response in
        #expect(response.status == .unauthorized)
      }
    }
    #expect(try store.user(named: "mallory") == nil)
  }

  @Test func badInputGetsAJSONErrorNeverA500() async throws {
    let f = try ServiceFixture()
    let admin = f.admin
    let routes = f.api.routes
    let huge = "{\"user\": \"" + String(repeating: "a", count: 100_000) + "\"}"
    let bodies = [
      "", "{", "[]", "null", "\"text\"", "{\"user\": 5, \"code\": \"123456\"}", "{\"user\": \"alice\"}",
      "{\"user\": \"alice\", \"code\": [1]}", "{\"codes\": \"123456\"}", "{\"name\": {}}",
      "{\"user\": \"alice\", \"code\": \"12345678901234567890\"}",
      "{\"user\": \"nobody\", \"code\": \"123456\"}",
      "{\"codes\": [\"1\", \"2\", \"3\"]}", "\u{0}\u{1}\u{2}", huge,
    ]
    try await f.test { client in
      for route in routes {
        let path = route.path.replacingOccurrences(of: "{user}", with: "alice").replacingOccurrences(
          of: "{serial}", with: "nope"
        ).replacingOccurrences(of: "{name}", with: "nope").replacingOccurrences(of: "{id}", with: "7")
        for text in bodies {
          try await client.execute(uri: path, method: route.method, headers: bearer(admin), body: json(text))
          {
            response in
            #expect(response.status.code < 500, "\(route.method) \(route.path) answered \(response.status)")
            if response.status.code >= 400, path == "/validate/check" {
              // privacyIDEA's shape, for its clients: result.error.code.
              let body =
                try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
                as? [String: Any]
              #expect(((body?["result"] as? [String: Any])?["error"] as? [String: Any])?["code"] != nil)
            } else if response.status.code >= 400, path != "/validate/radiuscheck" {
              #expect(errorCode(response) != nil, "\(route.method) \(route.path) error without a code")
            }
          }
        }
      }
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(admin), body: json(huge)) {
        response in
        #expect(response.status == .contentTooLarge)
        #expect(errorCode(response) == "body_too_large")
      }
      try await client.execute(
        uri: "/v1/verify", method: .post, headers: bearer(admin), body: json(#"{"user": 5, "code": "1"}"#)
      ) { response in
        #expect(response.status == .badRequest)
        #expect(errorCode(response) == "invalid_json")
        #expect(
          (object(response)["error"] as? [String: Any])?["message"] as? String == "'user' has the wrong type")
      }
      try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
        #expect(response.status == .notFound)
        #expect(errorCode(response) == "not_found")
      }
    }
    // Nothing of that changed the token: the next code is still the first one.
    #expect(try f.store.hotpFactor(serial: "4226")?.state.nextCounter == 0)
  }

  @Test func perUserAndPerAddressLimitsRefuseWithRetryAfter() async throws {
    let f = try ServiceFixture(limits: .init(perAddress: (0, 0), perUser: (1, 2)))
    let (key, clock) = (f.verifyOnly, f.clock)
    try await f.test { client in
      let body = json(#"{"user": "alice", "code": "000000"}"#)
      for _ in 0..<2 {
        try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
          #expect($0.status == .ok)
        }
      }
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
        response in
        #expect(response.status == .tooManyRequests)
        #expect(errorCode(response) == "rate_limited")
        #expect(response.headers[.retryAfter] == "1")
      }
      clock.advance(1)
      try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
        #expect($0.status == .ok)
      }
      try await client.execute(uri: "/metrics", method: .get) { response in
        let text = String(buffer: response.body)
        #expect(text.contains(#"otptoken_rate_limited_total{by="user"} 1"#))
        #expect(text.contains(#"otptoken_http_responses_total{status="429"} 1"#))
        #expect(text.contains(#"otptoken_http_responses_total{status="200"} 3"#))
      }
    }
    let g = try ServiceFixture(limits: .init(perAddress: (1, 3), perUser: (0, 0)))
    try await g.test { client in
      for expected: HTTPResponse.Status in [.ok, .ok, .ok, .tooManyRequests] {
        try await client.execute(uri: "/health", method: .get) { #expect($0.status == expected) }
      }
    }
  }

  @Test func administrationAndLoginThroughTheAPI() async throws {
    let f = try ServiceFixture()
    let (admin, verifyOnly, next) = (f.admin, f.verifyOnly, f.code(1))
    try await f.test { client in
      try await client.execute(
        uri: "/v1/users", method: .post, headers: bearer(admin), body: json(#"{"name": "bob"}"#)
      ) { #expect($0.status == .created) }
      try await client.execute(
        uri: "/v1/users", method: .post, headers: bearer(admin), body: json(#"{"name": "bob"}"#)
      ) { response in
        #expect(response.status == .conflict)
        #expect(errorCode(response) == "conflict")
        #expect(
          (object(response)["error"] as? [String: Any])?["message"] as? String == "user bob exists already")
      }
      try await client.execute(
        uri: "/v1/login", method: .post, headers: bearer(verifyOnly),
        body: json(#"{"user": "alice", "password": "correct horse"}"#)
      ) { #expect(object($0)["outcome"] as? String == "code-required") }
      try await client.execute(
        uri: "/v1/login", method: .post, headers: bearer(verifyOnly),
        body: json(#"{"user": "alice", "password": "correct horse", "code": "\#(next)"}"#)
      ) { response in
        let answer = object(response)
        #expect(answer["outcome"] as? String == "allowed" && answer["via"] as? String == "hotp:4226")
      }
      try await client.execute(
        uri: "/v1/users/alice/recovery-codes", method: .post, headers: bearer(admin)
      ) { #expect((object($0)["codes"] as? [String])?.count == 10) }
      try await client.execute(uri: "/v1/users/alice/factors", method: .get, headers: bearer(admin)) {
        response in
        let answer = object(response)
        #expect(answer["recoveryCodesLeft"] as? Int == 10)
        #expect((answer["tokens"] as? [[String: Any]])?.first?["nextCounter"] as? Int == 2)
      }
      try await client.execute(uri: "/v1/audit?user=alice&limit=3", method: .get, headers: bearer(admin)) {
        #expect((object($0)["entries"] as? [Any])?.count == 3)
      }
      try await client.execute(uri: "/v1/users/alice/tokens/4226", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .noContent)
      }
      try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
    }
    #expect(try f.store.hotpFactor(serial: "4226") == nil)
  }

  /// The document and the router list the same operations, with the same authentication.
  @Test func openAPIDocumentMatchesTheRoutes() async throws {
    let f = try ServiceFixture()
    let routes = f.api.routes
    try await f.test { client in
      try await client.execute(uri: "/openapi.json", method: .get) { response in
        let document = object(response)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
          for (method, operation) in operations {
            documented.insert("\(method.uppercased()) \(path)")
            let route = routes.first { $0.path == path && $0.method.rawValue == method.uppercased() }
            let security = (operation as? [String: Any])?["security"] as? [Any]
            #expect((security?.isEmpty ?? false) == (route?.scope == nil), "\(method) \(path): security")
          }
        }
        let served = Set(routes.map { "\($0.method.rawValue) \($0.path)" })
        #expect(documented == served)
      }
    }
  }
}

/// The one code step over HTTP: what people type, and attempts charged whatever the concurrency.
@Suite struct CodeStepOverHTTPTests {
  /// A recovery code through `POST /v1/verify` is accepted once; a code with a space, as phone apps
  /// show it, is accepted; a code of no factor's length is bad input, and counts nothing.
  @Test func theSecondStepTakesWhatPeopleType() async throws {
    let f = try ServiceFixture()
    let (key, store) = (f.verifyOnly, f.store)
    let recovery = try f.accounts.newRecoveryCodes(user: "alice")
    try await f.test { client in
      func verify(_ code: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await client.execute(
          uri: "/v1/verify", method: .post, headers: bearer(key),
          body: json(#"{"user": "alice", "code": "\#(code)"}"#)
        ) { ($0.status, object($0)) }
      }
      let (status, first) = try await verify(recovery[0])
      #expect(
        status == .ok && first["result"] as? String == "accepted" && first["factor"] as? String == "recovery")
      #expect(try await verify(recovery[0]).1["reason"] as? String == "replay")
      #expect(try await verify("755 224").1["result"] as? String == "accepted")
      let (bad, answer) = try await verify("12345678")
      #expect(
        bad == .badRequest && (answer["error"] as? [String: Any])?["code"] as? String == "invalid_input")
    }
    #expect(try store.hotpFactor(serial: "4226")?.state == HOTPState(nextCounter: 1, version: 1))
  }

  enum Kind: String, CaseIterable {
    case token, phoneApp, recoveryCode, password, appPassword
  }

  /// 64 wrong attempts of each kind arrive at once over loopback connections: no more are
  /// evaluated than the throttle allows before its first delay, and every evaluated failure is
  /// stored with its audit line.
  @Test(arguments: Kind.allCases)
  func aFloodOfWrongAttemptsIsChargedAttemptByAttempt(kind: Kind) async throws {
    let f = try ServiceFixture()
    let accounts = f.accounts
    var user = "alice"
    let route: String
    let body: String
    switch kind {
    case .token:
      (route, body) = ("/v1/verify", #"{"user": "alice", "code": "000000"}"#)
    case .phoneApp:
      user = "pat"
      try accounts.createUser(name: user)
      let secret = try accounts.enrollTOTP(user: user).secret
      let generator = try TOTPGenerator(secret: secret)
      let now = f.verifierClock.nowMilliseconds() / 1000
      #expect(try accounts.confirmTOTP(user: user, code: generator.code(at: now).text).isAccepted)
      let window = (-1...1).map { generator.code(at: now + 30 * $0).value }
      let wrong = (0..<UInt32(4)).first { !window.contains($0) }!
      (route, body) = ("/v1/verify", #"{"user": "pat", "code": "\#(OTPCode(value: wrong, digits: 6).text)"}"#)
    case .recoveryCode:
      let codes = try accounts.newRecoveryCodes(user: "alice")
      let wrong = codes.contains("zzzz-zzzz") ? "yyyy-yyyy" : "zzzz-zzzz"
      (route, body) = ("/v1/verify", #"{"user": "alice", "code": "\#(wrong)"}"#)
    case .password:
      (route, body) = ("/v1/login", #"{"user": "alice", "password": "wrong horse"}"#)
    case .appPassword:
      user = "mail"
      try accounts.createUser(name: user)
      _ = try accounts.addAppPassword(user: user, label: "imap")
      (route, body) = ("/v1/login", #"{"user": "mail", "password": "abcdefghijklmnop"}"#)
    }
    let key = f.verifyOnly
    let gathered = Mutex<[String]>([])
    try await f.test(live: true) { client in
      let port = try #require(client.port)
      let session = URLSession(
        configuration: {
          let configuration = URLSessionConfiguration.ephemeral
          configuration.httpMaximumConnectionsPerHost = 64
          return configuration
        }())
      var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(route)")!)
      request.httpMethod = "POST"
      request.httpBody = Data(body.utf8)
      request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
      request.setValue("application/json", forHTTPHeaderField: "Content-Type")
      let sent = request
      let reasons = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<64 {
          group.addTask {
            let (data, _) = try await session.data(for: sent)
            let answer = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            return answer?["reason"] as? String ?? "no reason: \(String(decoding: data, as: UTF8.self))"
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      session.finishTasksAndInvalidate()
      gathered.withLock { $0 = reasons }
    }
    let answers = gathered.withLock { $0 }
    let evaluated = answers.filter { $0 == "wrong-code" || $0 == "wrong user name or password" }.count
    #expect(answers.count == 64)
    #expect(evaluated == 5, "\(Dictionary(grouping: answers, by: { $0 }).mapValues(\.count))")
    #expect(answers.filter { $0 == "throttled" }.count == 64 - evaluated)
    let lines = try f.store.auditEntries(user: user, limit: 10_000).filter {
      $0.reason == "wrong-code" || $0.reason == "wrong-password"
    }
    #expect(lines.count == evaluated)
    let summary = try accounts.factorSummary(user: user)
    let counters = Mutex<VerificationSnapshot?>(nil)
    _ = try await f.store.runVerification(
      VerificationJob(userName: user, reads: .attempts) { snapshot in
        counters.withLock { $0 = snapshot }
        return VerificationPlan(decision: Decision(reason: .accepted), writes: [])
      })
    let attempts = try #require(counters.withLock { $0 })
    let stored: Int
    switch kind {
    case .token: stored = summary.tokens[0].failures
    case .phoneApp: stored = summary.phoneApps[0].failures
    case .recoveryCode: stored = attempts.attempts(.recovery).failures
    case .password, .appPassword: stored = attempts.attempts(.password).failures
    }
    #expect(stored == evaluated)
  }
}
