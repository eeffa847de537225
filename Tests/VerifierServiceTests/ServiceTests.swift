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

let rfcKey = Array("12345678901234567890".utf8)

/// A monotonic clock the test moves, for the rate limiters.
final class TestSeconds: Sendable {
  private let value = Mutex<Double>(1000)
  var now: Double { value.withLock { $0 } }
  func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
}

/// The service over a fresh SQLite store holding "alice" with the RFC 4226 token, an admin key
/// and a verify-only key.
struct ServiceFixture {
  let store: SQLiteStore
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
    let hotp = try HOTPVerifier(store: store, keys: keys, settings: settings)
    let accounts = Accounts(store: store, hotp: hotp)
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

  /// Runs `body` against the router in process, then stops the thread pool.
  func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    let app = Application(router: api.makeRouter())
    try await app.test(.router) { client in try await body(client) }
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
      // No key, a malformed key, an unknown key.
      for headers: HTTPFields in [
        [.contentType: "application/json"], [.authorization: "Bearer nonsense"],
        [.authorization: "Bearer otk_" + String(repeating: "0", count: 64)], [.authorization: "Basic abc"],
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
        ).replacingOccurrences(of: "{name}", with: "nope")
        for text in bodies {
          try await client.execute(uri: path, method: route.method, headers: bearer(admin), body: json(text))
          {
            response in
            #expect(response.status.code < 500, "\(route.method) \(route.path) answered \(response.status)")
            if response.status.code >= 400 {
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
