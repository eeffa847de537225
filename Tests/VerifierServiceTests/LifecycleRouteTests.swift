import Foundation
import Hummingbird
import HummingbirdTesting
import OneTimePassword
import Synchronization
import Testing
import Verifier

/// The lifecycle actions over HTTP, each with an admin key: policy, the per-user switch, groups,
/// password, a lost phone, recovery codes, application passwords and deleting a user.
@Suite struct LifecycleRouteTests {
  @Test func everyLifecycleActionHasARoute() async throws {
    let f = try ServiceFixture()
    let (admin, verifyOnly, accounts, store) = (f.admin, f.verifyOnly, f.accounts, f.store)
    let secret = try accounts.enrollTOTP(user: "alice").secret
    let totp = try HOTPGenerator(secret: secret, algorithm: .sha1, digits: 6)
    let step = UInt64(f.verifierClock.nowMilliseconds() / 30_000)
    #expect(try accounts.confirmTOTP(user: "alice", code: totp.code(counter: step).text).isAccepted)
    _ = try accounts.newRecoveryCodes(user: "alice")
    _ = try accounts.addAppPassword(user: "alice", label: "mail")
    try await f.test { client in
      // Policy: set, read back, and a bad one refused without a change.
      let policy = #"{"mandatoryFor":"group","group":"staff","deadline":1900000000000}"#
      try await client.execute(uri: "/v1/policy", method: .put, headers: bearer(admin), body: json(policy)) {
        #expect($0.status == .ok)
      }
      try await client.execute(
        uri: "/v1/policy", method: .put, headers: bearer(admin), body: json(#"{"mandatoryFor":"group"}"#)
      ) { #expect($0.status == .badRequest && errorCode($0) == "invalid_input") }
      try await client.execute(uri: "/v1/policy", method: .get, headers: bearer(verifyOnly)) {
        #expect($0.status == .forbidden)
      }
      try await client.execute(uri: "/v1/policy", method: .get, headers: bearer(admin)) {
        let answer = object($0)
        #expect(answer["group"] as? String == "staff" && answer["deadline"] as? Int == 1_900_000_000_000)
      }
      try await client.execute(
        uri: "/v1/users/alice/groups", method: .put, headers: bearer(admin),
        body: json(#"{"groups":["staff"]}"#)
      ) { #expect($0.status == .noContent) }
      try await client.execute(
        uri: "/v1/users/alice/second-factor-off", method: .post, headers: bearer(admin),
        body: json(#"{"days":400}"#)
      ) { #expect($0.status == .badRequest) }
      try await client.execute(
        uri: "/v1/users/alice/second-factor-off", method: .post, headers: bearer(admin),
        body: json(#"{"days":2}"#)
      ) { #expect($0.status == .noContent) }
      try await client.execute(
        uri: "/v1/users/alice/password", method: .put, headers: bearer(admin),
        body: json(#"{"password":"new horse"}"#)
      ) { #expect($0.status == .noContent) }
      try await client.execute(uri: "/v1/users/alice/app-passwords", method: .get, headers: bearer(admin)) {
        let list = object($0)["appPasswords"] as? [[String: Any]]
        #expect(list?.map { $0["name"] as? String } == ["mail"])
      }
      try await client.execute(uri: "/v1/users/alice/factors", method: .get, headers: bearer(admin)) {
        let apps = object($0)["phoneApps"] as? [[String: Any]]
        #expect(apps?.count == 1 && apps?[0]["id"] is Int)
      }
      let id = try accounts.factorSummary(user: "alice").phoneApps[0].id
      try await client.execute(uri: "/v1/users/alice/totp/x", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .badRequest)
      }
      // Both routes this path fits are named.
      try await client.execute(uri: "/v1/users/alice/totp/confirm", method: .get, headers: bearer(admin)) {
        #expect($0.status == .methodNotAllowed && $0.headers[.allow] == "DELETE, POST")
      }
      try await client.execute(uri: "/v1/users/alice/totp/\(id)", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .noContent)
      }
      try await client.execute(uri: "/v1/users/alice/totp/\(id)", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .notFound)
      }
      try await client.execute(uri: "/v1/users/alice/recovery-codes", method: .delete, headers: bearer(admin))
      {
        #expect($0.status == .noContent)
      }
    }
    let account = try store.account(userID: try #require(try store.user(named: "alice")).id)
    #expect(account.groups == ["staff"] && account.secondFactorOffUntil != nil)
    #expect(
      try await accounts.login(user: "alice", password: "new horse", code: nil) == .allowed(via: "password"))
    let summary = try accounts.factorSummary(user: "alice")
    #expect(summary.phoneApps.isEmpty && summary.recoveryCodesLeft == 0)
  }

  /// A mail app signs in once with the password and a code and gets a password of its own.
  @Test func aClientsFirstSignInIssuesAnApplicationPassword() async throws {
    let f = try ServiceFixture()
    let (key, codes) = (f.verifyOnly, [f.code(0), f.code(1)])
    let issued = Mutex<[String]>([])
    try await f.test { client in
      for code in codes {
        let body = #"{"user":"alice","password":"correct horse","code":"\#(code)","client":"Thunderbird"}"#
        try await client.execute(uri: "/v1/login", method: .post, headers: bearer(key), body: json(body)) {
          let answer = object($0)
          #expect(answer["outcome"] as? String == "allowed")
          let password = answer["appPassword"] as? [String: String]
          issued.withLock { $0.append("\(password?["name"] ?? "-") \(password?["password"]?.count ?? 0)") }
          if let secret = password?["password"] { issued.withLock { $0.append(secret) } }
        }
      }
      // Without a code, no password is issued, however the client asks.
      let noCode = #"{"user":"bob","password":"x","client":"Thunderbird"}"#
      try await client.execute(uri: "/v1/login", method: .post, headers: bearer(key), body: json(noCode)) {
        #expect(object($0)["appPassword"] == nil)
      }
    }
    let got = issued.withLock { $0 }
    #expect(got.count == 4 && got[0] == "Thunderbird 16" && got[2] == "Thunderbird 2 16")
    #expect(
      try await f.accounts.login(user: "alice", password: got[1], code: nil)
        == .allowed(via: "app-password:Thunderbird"))
  }

  @Test func deletingAUserOverHTTP() async throws {
    let f = try ServiceFixture()
    let (admin, store) = (f.admin, f.store)
    try await f.test { client in
      try await client.execute(uri: "/v1/users/alice", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .noContent)
      }
      try await client.execute(uri: "/v1/users/alice", method: .delete, headers: bearer(admin)) {
        #expect($0.status == .notFound && errorCode($0) == "unknown_user")
      }
    }
    #expect(try store.user(named: "alice") == nil)
    #expect(try store.hotpFactor(serial: "4226")?.userID == nil)
  }
}
