import Foundation
import StoreFixtures
import Testing

/// The lifecycle commands, under a fixed time like the other phone-app tests.
@Suite struct LifecycleCLITests {
  static let start = 1_800_000_000

  @Test func lostPhoneRevokedCodesNewPasswordAndADeletedUser() throws {
    let dir = temporaryDirectory()
    let binary = Binary(
      runtimeDirectory: dir,
      extra: ["OTPTOKEN_DB": dir + "/v.sqlite", "FAKETIME_DONT_FAKE_MONOTONIC": "1"],
      wrapper: ["/usr/bin/faketime", "@\(Self.start)"])
    #expect(
      try binary.run(["user", "add", "--user", "alice", "--password-stdin"], input: "old\n").status == 0)
    let uri = try #require(
      try binary.run(["totp", "enroll", "--user", "alice", "--json"]).json?["uri"] as? String)
    let secret = try #require(URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value)
    #expect(
      try binary.run(["totp", "confirm", "--user", "alice", try oathtool(secret, at: Int64(Self.start))])
        .status == 0)
    let users = try binary.run(["user", "list", "--json"]).json?["users"] as? [[String: Any]]
    let id = try #require((users?.first?["phoneApps"] as? [[String: Any]])?.first?["id"] as? Int)

    // Without a terminal, a destructive command needs --force and changes nothing.
    #expect(try binary.run(["totp", "remove", "--user", "alice", "--id", "\(id)"]).status == 2)
    #expect(
      try binary.run(["totp", "remove", "--user", "alice", "--id", "\(id + 1)", "--force"]).status != 0)
    #expect(try binary.run(["totp", "remove", "--user", "alice", "--id", "\(id)", "--force"]).status == 0)
    let next = try oathtool(secret, at: Int64(Self.start + 30))
    #expect(try binary.run(["verify", "--user", "alice", next]).status == 1)

    _ = try binary.run(["recovery", "new", "--user", "alice"])
    #expect(try binary.run(["recovery", "revoke", "--user", "alice"]).status == 0)
    #expect(
      try binary.run(["recovery", "count", "--user", "alice", "--json"]).json?["remaining"] as? Int == 0)

    #expect(try binary.run(["user", "password", "--user", "alice"], input: "").status == 2)
    #expect(try binary.run(["user", "password", "--user", "alice"], input: "new\n").status == 0)
    #expect(try binary.run(["login", "--user", "alice", "--password", "old"]).status == 1)
    #expect(try binary.run(["login", "--user", "alice", "--password", "new"]).status == 0)

    #expect(try binary.run(["user", "delete", "--user", "alice"]).status == 2)
    #expect(try binary.run(["user", "delete", "--user", "alice", "--force"]).status == 0)
    #expect(try binary.run(["user", "delete", "--user", "alice", "--force"]).status != 0)
    #expect((try binary.run(["user", "list", "--json"]).json?["users"] as? [Any])?.isEmpty == true)
  }
}
