import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import Verifier

@testable import VerifierService

/// User names as they arrive over HTTP: refused when they hide a control character, decoded from
/// the path, and never able to grow the per-user limiter past its bound.
@Suite struct NameTests {
  @Test func aNameWithNULIsRefusedAndChargesNobody() async throws {
    let f = try ServiceFixture()
    let (key, store) = (f.verifyOnly, f.store)
    try await f.test { client in
      for name in ["alice\\u0000x", "alice\\n", "alice\\t"] {
        let body = json(#"{"user": "\#(name)", "code": "000000"}"#)
        try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
          response in
          #expect(response.status == .badRequest, "\(name)")
          #expect(errorCode(response) == "invalid_input")
        }
      }
    }
    let alice = try #require(try store.hotpFactor(serial: "4226"))
    #expect(alice.state.failures == 0)
    #expect(try store.auditEntries(user: "alice", limit: 10).allSatisfy { $0.result != "refused" })
  }

  @Test func pathParametersArePercentDecoded() async throws {
    let f = try ServiceFixture()
    let admin = f.admin
    try await f.test { client in
      for (name, path) in [("José", "Jos%C3%A9"), ("eve space", "eve%20space"), ("50%off", "50%25off")] {
        let body = json(#"{"name": "\#(name)"}"#)
        try await client.execute(uri: "/v1/users", method: .post, headers: bearer(admin), body: body) {
          response in
          #expect(response.status == .created, "\(name)")
        }
        try await client.execute(uri: "/v1/users/\(path)/factors", method: .get, headers: bearer(admin)) {
          response in
          #expect(response.status == .ok, "\(name)")
          #expect(object(response)["user"] as? String == name)
        }
        try await client.execute(uri: "/v1/users/\(path)/unlock", method: .post, headers: bearer(admin)) {
          response in
          #expect(response.status == .ok, "\(name)")
        }
      }
      // The same name with its accent as a combining mark is the same user.
      try await client.execute(uri: "/v1/users/Jose%CC%81/factors", method: .get, headers: bearer(admin)) {
        response in
        #expect(response.status == .ok)
      }
      try await client.execute(uri: "/v1/users/bad%ZZ/factors", method: .get, headers: bearer(admin)) {
        response in
        #expect(response.status == .badRequest)
        #expect(errorCode(response) == "invalid_input")
      }
    }
  }

  /// 25,000 distinct names of 16 KB each: the table keeps at most `capacity` keys of 16 bytes.
  @Test func thePerUserLimiterIsBoundedWhateverNamesArrive() {
    let limiter = RateLimiter(rate: 1, burst: 5, capacity: 1_000, now: { 0 })
    let padding = String(repeating: "x", count: 16_384)
    for index in 0..<25_000 { _ = limiter.take("\(index)\(padding)") }
    #expect(limiter.count <= 1_000)
    #expect(MemoryLayout<RateLimiter.Key>.size == 16)
    // The limit still holds for a name seen before: its bucket is there, empty after a burst.
    for _ in 0..<5 { #expect(limiter.take("mallory") == nil) }
    #expect(limiter.take("mallory") != nil)
  }
}

@Suite struct UserNameTests {
  @Test func oneNormalisationAndNoControlCharacters() throws {
    #expect(try UserName.checked("alice") == "alice")
    #expect(try UserName.checked("eve space") == "eve space")
    #expect(try UserName.checked("Jose\u{301}") == "Jos\u{E9}")
    #expect(try UserName.checked(String(repeating: "é", count: 256)).count == 256)
    for bad in ["", "alice\u{0}x", "a\nb", "a\tb", "a\u{7F}", "a\u{85}b", String(repeating: "a", count: 257)]
    {
      #expect(throws: VerifierError.self, "\(bad.debugDescription)") { try UserName.checked(bad) }
    }
  }
}

/// What an attacker holding a verify key learns about names: nothing from the answers.
@Suite struct UniformAnswerTests {
  @Test func unknownUsersUsersWithoutFactorsAndWrongCodesLookAlike() async throws {
    let f = try ServiceFixture()
    try f.accounts.createUser(name: "nofactor")
    let (key, store) = (f.verifyOnly, f.store)
    try await f.test { client in
      var answers: [String: (HTTPResponse.Status, [String: String])] = [:]
      for user in ["alice", "nofactor", "nobody"] {
        let body = json(#"{"user": "\#(user)", "code": "000000"}"#)
        try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
          response in
          var fields = object(response).compactMapValues { $0 as? String }
          fields["user"] = nil
          answers[user] = (response.status, fields)
        }
      }
      #expect(answers["alice"]?.0 == .ok)
      #expect(answers["alice"]?.1 == ["result": "refused", "reason": "wrong-code"])
      for user in ["nofactor", "nobody"] {
        #expect(answers[user]?.0 == answers["alice"]?.0, "\(user)")
        #expect(answers[user]?.1 == answers["alice"]?.1, "\(user)")
      }
      // A length that none of alice's factors has is bad input, for a name that does not exist too.
      for user in ["alice", "nobody"] {
        let body = json(#"{"user": "\#(user)", "code": "12345678"}"#)
        try await client.execute(uri: "/v1/verify", method: .post, headers: bearer(key), body: body) {
          response in
          #expect(response.status == .badRequest, "\(user)")
          #expect(errorCode(response) == "invalid_input")
        }
      }
    }
    // The audit log still tells an administrator what happened to the user without factors.
    #expect(try store.auditEntries(user: "nofactor", limit: 5).contains { $0.reason == "no-factor" })
  }

  @Test func unknownUsersAndWrongPasswordsLookAlikeAtLogin() async throws {
    let f = try ServiceFixture()
    let key = f.verifyOnly
    try await f.test { client in
      var bodies: [[String: String]] = []
      for user in ["alice", "nobody"] {
        let body = json(#"{"user": "\#(user)", "password": "wrong"}"#)
        try await client.execute(uri: "/v1/login", method: .post, headers: bearer(key), body: body) {
          response in
          #expect(response.status == .ok)
          var fields = object(response).compactMapValues { $0 as? String }
          fields["user"] = nil
          bodies.append(fields)
        }
      }
      #expect(bodies.count == 2 && bodies[0] == bodies[1], "\(bodies)")
      #expect(bodies.first?["reason"] == Accounts.wrongCredentials)
    }
  }
}

@Suite struct MethodTests {
  /// A path the API has, asked with a method it does not take, is 405 with the methods it does;
  /// a path it does not have stays 404.
  @Test func aKnownPathWithAnotherMethodIs405() async throws {
    let f = try ServiceFixture()
    let key = f.verifyOnly
    try await f.test { client in
      try await client.execute(uri: "/v1/verify", method: .put, headers: bearer(key)) { response in
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers[.allow] == "POST")
        #expect(errorCode(response) == "method_not_allowed")
      }
      try await client.execute(uri: "/v1/users/alice/factors", method: .delete, headers: bearer(key)) {
        response in
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers[.allow] == "GET")
      }
      try await client.execute(uri: "/v1/nothing", method: .get, headers: bearer(key)) { response in
        #expect(response.status == .notFound)
      }
    }
  }
}
