import Foundation
import Testing

@Suite struct VerifierCLITests {
  @Test func benchRunsAndReportsEveryFigure() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir, tool: "otptoken-dev")
    let result = try binary.run([
      "bench", "--tokens", "50", "--seconds", "0.2", "--clients", "2", "--directory", dir, "--json",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let figures = try #require(result.json)
    for key in [
      "hotp_candidates_per_s", "hotp_engine", "hotp_portable_per_s", "hotp_openssl_reference_per_s",
      "hotp_of_openssl", "verify_accept_per_s", "verify_reject_per_s", "verify_reject_repeat_per_s",
      "verify_p50_ms", "verify_p99_ms", "resync_10k_ms", "rss_mb",
    ] {
      #expect(figures[key] != nil, "missing \(key)")
    }
    #expect((figures["verify_accept_per_s"] as? Int ?? 0) > 0)
  }

  @Test func importAssignVerifyAndConflicts() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir)
    let db = ["--db", dir + "/v.sqlite"]
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<2 { root.deleteLastPathComponent() }
    let file = root.appendingPathComponent("SeedImportTests/PSKC/rfc6030-figure3.pskcxml").path
    #expect(try binary.run(["user", "add", "--user", "alice"] + db).status == 0)
    #expect(try binary.run(["user", "add", "--user", "alice"] + db).status == 1)
    #expect(try binary.run(["import", file] + db).status == 0)
    let again = try binary.run(["import", file] + db)
    #expect(again.status == 1 && again.stderr.contains("--replace"))
    #expect(try binary.run(["import", "/nonexistent.xml"] + db).status == 2)
    // RFC 4226 key, 8 digits: counters 0 and 1 prove the token, 2 is then accepted once.
    #expect(
      try binary.run(["assign", "--user", "alice", "--serial", "987654321", "84755224", "94287082"] + db)
        .status == 0)
    let accepted = try binary.run(["verify", "--user", "alice", "37359152", "--json"] + db)
    #expect(accepted.status == 0 && accepted.json?["reason"] as? String == "accepted")
    let replay = try binary.run(["verify", "--user", "alice", "37359152", "--json"] + db)
    #expect(replay.status == 1 && replay.json?["reason"] as? String == "replay")
    #expect(try binary.run(["verify", "--user", "bob", "37359152"] + db).status == 1)
    #expect(try binary.run(["verify", "--user", "alice", "12ab"] + db).status == 2)
    let key = try FileManager.default.attributesOfItem(atPath: dir + "/v.key")
    #expect((key[.posixPermissions] as? Int) == 0o600)
  }
}
