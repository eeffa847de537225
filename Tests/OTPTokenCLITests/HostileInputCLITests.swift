import Foundation
import Testing
import Verifier
import VerifierSQLite

/// Values at the edges of what the store holds, and names that hide control characters, through
/// the binary.
@Suite struct HostileInputCLITests {
  @Test func auditReadsEveryCounterTheStoreCanHold() throws {
    let dir = temporaryDirectory()
    let path = dir + "/v.sqlite"
    #expect(
      try Binary(runtimeDirectory: dir).run(["user", "add", "--user", "bob", "--db", path]).status == 0)
    let store = try SQLiteStore(path: path)
    _ = try store.createUser(
      name: "alice",
      audit: AuditEntry(
        at: 0, user: "alice", factor: "hotp:1", action: "verify", result: "accepted", reason: "accepted",
        counterBefore: UInt64(Int64.max) + 1, counterAfter: UInt64.max))
    let result = try Binary(runtimeDirectory: dir).run(["audit", "--db", path, "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("18446744073709551615") && result.stdout.contains("9223372036854775808"))
  }

  @Test func namesWithControlCharactersAreBadInput() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir, extra: ["OTPTOKEN_DB": dir + "/v.sqlite"])
    #expect(try binary.run(["user", "add", "--user", "alice"]).status == 0)
    for name in ["a\tb", "a\u{7F}", "a\nb"] {  // (a NUL cannot reach a program through its arguments)
      let added = try binary.run(["user", "add", "--user", name])
      #expect(added.status == 2, "\(name.debugDescription): \(added.stderr)")
    }
    let verify = try binary.run(["verify", "--user", "alice\tx", "123456"])
    #expect(verify.status == 2)
    #expect(try binary.run(["user", "list"]).stdout.split(separator: "\n").count == 1)
  }

  @Test func nothingIsCreatedWhereNobodyAskedAndNoKeyReplacesALostOne() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir)
    let missing = dir + "/no-such-folder"
    let refused = try binary.run(["user", "add", "--user", "alice", "--db", missing + "/v.sqlite"])
    #expect(refused.status == 3)
    #expect(refused.stderr.contains("does not exist"), "\(refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: missing))

    let db = dir + "/v.sqlite"
    #expect(try binary.run(["user", "add", "--user", "alice", "--db", db]).status == 0)
    for file in [db, dir + "/v.key"] {
      let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
      #expect(mode == 0o600, "\(file)")
    }
    try FileManager.default.removeItem(atPath: dir + "/v.key")
    let lost = try binary.run(["user", "list", "--db", db])
    #expect(lost.status == 3)
    #expect(lost.stderr.contains(dir + "/v.key"), "\(lost.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir + "/v.key"))
  }

  @Test func aDatabaseOthersMayReadDrawsAWarning() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir)
    let db = dir + "/v.sqlite"
    #expect(try binary.run(["user", "add", "--user", "alice", "--db", db]).status == 0)
    #expect(!(try binary.run(["user", "list", "--db", db]).stderr.contains("warning")))
    chmod(db, 0o644)
    let listed = try binary.run(["user", "list", "--db", db])
    #expect(listed.status == 0)
    #expect(listed.stderr.contains("warning") && listed.stderr.contains("chmod 600"), "\(listed.stderr)")
  }
}
