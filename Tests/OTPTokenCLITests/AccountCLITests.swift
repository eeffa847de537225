import Foundation
import StoreFixtures
import Testing

/// The phone-app commands run under libfaketime (Debian's faketime) with a fixed start time, so
/// every command sees the same 30-second step: the binary's clock injected from outside.
@Suite struct AccountCLITests {
  /// A step boundary, so the whole test stays within one step.
  static let start = 1_800_000_000

  func oathtool(_ secret: String, offset: Int = 0) throws -> String {
    try StoreFixtures.oathtool(secret, at: Int64(Self.start + offset))
  }

  @Test func phoneAppRecoveryCodesAppPasswordsAndLogin() throws {
    let dir = temporaryDirectory()
    let binary = Binary(
      runtimeDirectory: dir,
      extra: ["OTPTOKEN_DB": dir + "/v.sqlite", "FAKETIME_DONT_FAKE_MONOTONIC": "1"],
      wrapper: ["/usr/bin/faketime", "@\(Self.start)"])
    let add = Process()
    add.executableURL = URL(fileURLWithPath: Binary.path)
    add.arguments = ["user", "add", "--user", "alice", "--password-stdin"]
    add.environment = binary.environment
    let input = Pipe()
    add.standardInput = input
    add.standardError = FileHandle.nullDevice
    try add.run()
    try input.fileHandleForWriting.write(contentsOf: Data("s3cret\n".utf8))
    try input.fileHandleForWriting.close()
    add.waitUntilExit()
    #expect(add.terminationStatus == 0)

    let enrolment = try binary.run(["totp", "enroll", "--user", "alice", "--qr", dir + "/qr.png", "--json"])
    let uri = try #require(enrolment.json?["uri"] as? String)
    let secret = try #require(URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value)
    // Not yet confirmed.
    #expect(try binary.run(["login", "--user", "alice", "--password", "s3cret"]).status == 0)
    #expect(try binary.run(["totp", "confirm", "--user", "alice", try oathtool(secret)]).status == 0)
    let needsCode = try binary.run(["login", "--user", "alice", "--password", "s3cret", "--json"])
    #expect(needsCode.status == 1 && needsCode.json?["result"] as? String == "code-required")
    let code = try oathtool(secret, offset: 30)
    #expect(try binary.run(["login", "--user", "alice", "--password", "s3cret", "--code", code]).status == 0)
    #expect(try binary.run(["verify", "--user", "alice", code]).status == 1)  // single use
    #expect(try binary.run(["login", "--user", "alice", "--password", "wrong", "--code", code]).status == 1)

    let recovery = try #require(
      try binary.run(["recovery", "new", "--user", "alice", "--json"]).json?["codes"] as? [String])
    #expect(recovery.count == 10)
    #expect(
      try binary.run(["login", "--user", "alice", "--password", "s3cret", "--code", recovery[0]]).status == 0)
    #expect(
      try binary.run(["login", "--user", "alice", "--password", "s3cret", "--code", recovery[0]]).status == 1)
    #expect(
      try binary.run(["recovery", "count", "--user", "alice", "--json"]).json?["remaining"] as? Int == 9)

    let password = try #require(
      try binary.run(["app-password", "add", "--user", "alice", "--name", "mail", "--json"]).json?["password"]
        as? String)
    #expect(try binary.run(["login", "--user", "alice", "--password", password]).status == 0)
    #expect(try binary.run(["app-password", "revoke", "--user", "alice", "--name", "mail"]).status == 0)
    #expect(try binary.run(["login", "--user", "alice", "--password", password]).status == 1)

    #expect(try binary.run(["policy", "set", "--mandatory", "sometimes"]).status == 2)
    #expect(try binary.run(["totp", "enroll", "--user", "alice", "--qr", dir + "/qr.gif"]).status == 2)
    let qr = try FileManager.default.attributesOfItem(atPath: dir + "/qr.png")
    #expect((qr[.posixPermissions] as? Int) == 0o600)
  }
}
