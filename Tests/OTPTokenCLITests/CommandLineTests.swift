import Foundation
import Testing

/// The command line as people expect it: a version, suggestions for typos, questions before
/// destroying a token's credential, secrets as printed, every factor listed, completion scripts and
/// exit statuses in the man pages.
@Suite struct CommandLineTests {
  /// Runs the binary on a pseudo-terminal (util-linux `script`), so it may ask; `answer` is typed.
  /// What it wrote, both streams, comes back as stdout.
  func atTerminal(_ binary: Binary, _ arguments: [String], answer: String) throws -> Binary.Result {
    let command = ([Binary.path] + arguments).map {
      "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
    return try binary.run(
      executable: "/usr/bin/script", ["-qec", command.joined(separator: " "), "/dev/null"], input: answer)
  }

  @Test func versionIsPrintedByBothExecutables() throws {
    let dir = temporaryDirectory()
    let user = try Binary(runtimeDirectory: dir).run(["--version"])
    let developer = try Binary(runtimeDirectory: dir, tool: "otptoken-dev").run(["--version"])
    #expect(user.status == 0 && developer.status == 0)
    let version = user.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(
      version.split(separator: ".").count == 3 && version.split(separator: ".").allSatisfy { Int($0) != nil })
    #expect(developer.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == version)
  }

  @Test func aMistypedCommandGetsTheNearestSuggested() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    let typo = try binary.run(["verfy", "--user", "bob", "1"])
    #expect(typo.status == 2)
    #expect(typo.stderr.contains("did you mean 'verify'?"), "\(typo.stderr)")
    #expect(!typo.stderr.contains("Unknown option"))
    let nested = try binary.run(["token", "hopt", "--slot", "2"])
    #expect(nested.status == 2)
    #expect(nested.stderr.contains("'hopt' is not a command of otptoken token; did you mean 'hotp'?"))
    let prefix = try binary.run(["app"])
    #expect(prefix.stderr.contains("'app-password'"), "\(prefix.stderr)")
    let nothing = try binary.run(["xyzzy"])
    #expect(nothing.status == 2)
    #expect(nothing.stderr.contains("see 'otptoken --help'"), "\(nothing.stderr)")
    // Positional arguments of a command are not taken for command names.
    #expect(!(try binary.run(["verify", "--user", "bob", "verfy"]).stderr.contains("did you mean")))
  }

  @Test func aProgrammedSlotIsOverwrittenOnlyWhenSomeoneAgrees() throws {
    let token = try Deployment()
    let socket = ["--socket", token.socket, "--no-hidapi"]
    let rfc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  // RFC 4226's key "12345678901234567890" in base32
    let first = try token.run(["token", "hotp", "--slot", "2", "--key", rfc, "--json"] + socket)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(try token.press() == "755224")

    // Not at a terminal: refused with the way out named, and the slot keeps its key.
    let hex = "3132333435363738393031323334353637383930"
    let again = try token.run(["token", "hotp", "--slot", "2", "--key", hex] + socket)
    #expect(again.status == 2)
    #expect(again.stderr.contains("--force"), "\(again.stderr)")
    #expect(try token.press() == "287082")  // the counter moved on under the same key

    // At a terminal, a "no" changes nothing and a "yes" goes ahead.
    let declined = try atTerminal(
      token.binary, ["token", "hotp", "--slot", "2", "--key", hex] + socket, answer: "n\n")
    #expect(declined.status == 1, "\(declined.stdout)")
    #expect(declined.stdout.contains("[y/N]"))
    #expect(try token.press() == "359152")
    let agreed = try atTerminal(
      token.binary, ["token", "hotp", "--slot", "2", "--key", hex] + socket, answer: "y\n")
    #expect(agreed.status == 0, "\(agreed.stdout)")
    #expect(try token.press() == "755224")  // reprogrammed: the counter starts again

    // --force needs no one; delete and swap ask the same way.
    #expect(try token.run(["token", "hotp", "--slot", "1", "--key", hex, "--force"] + socket).status == 0)
    #expect(try token.run(["token", "swap"] + socket).status == 2)
    #expect(try token.run(["token", "delete", "--slot", "2"] + socket).status == 2)
    var info = try token.run(["token", "info", "--json"] + socket).json
    #expect(info?["slot2"] as? String == "programmed")
    #expect(
      try atTerminal(token.binary, ["token", "delete", "--slot", "2"] + socket, answer: "yes\n").status == 0)
    info = try token.run(["token", "info", "--json"] + socket).json
    #expect(info?["slot2"] as? String == "empty")
  }

  @Test func keysAreTakenInBase32AsPrintedOrInHex() throws {
    let token = try Deployment()
    let socket = ["--socket", token.socket, "--no-hidapi", "--force"]
    #expect(
      try token.run(
        ["token", "hotp", "--slot", "2", "--key", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"] + socket
      ).status == 0)
    #expect(try token.press() == "755224")
    let printed = try token.run(["token", "hotp", "--slot", "2", "--json"] + socket).json
    let base32 = try #require(printed?["secretBase32"] as? String)
    let hex = try #require(printed?["secretHex"] as? String)
    let fromBase32 = try token.press()
    #expect(try token.run(["token", "hotp", "--slot", "2", "--key", hex] + socket).status == 0)
    #expect(try token.press() == fromBase32)  // the same secret, counter started again
    #expect(try token.run(["token", "hotp", "--slot", "2", "--key", base32] + socket).status == 0)
    #expect(try token.press() == fromBase32)
    for bad in ["ABC", "313233", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", String(repeating: "0", count: 42)] {
      let refused = try token.run(["token", "hotp", "--slot", "2", "--key", bad] + socket)
      #expect(refused.status == 2, "\(bad)")
      #expect(refused.stderr.contains("base32"))
    }
  }

  @Test func registeringOverAForeignCredentialNeedsConsent() throws {
    let token = try Deployment()
    #expect(try token.run(["user", "add", "--user", "alice"]).status == 0)
    let socket = ["--socket", token.socket, "--no-hidapi"]
    #expect(try token.run(["token", "hotp", "--slot", "2"] + socket).status == 0)
    let before = try token.press()
    let refused = try token.run(["register", "--user", "alice", "--timeout", "1"] + socket)
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("did not write"), "\(refused.stderr)")
    let users = try token.run(["user", "list", "--json"]).json?["users"] as? [[String: Any]]
    #expect((users?.first?["tokens"] as? [Any])?.isEmpty == true)
    #expect(try token.press() != before)  // still the same credential, counting on
  }

  @Test func userListShowsEveryKindOfFactor() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir, extra: ["OTPTOKEN_DB": dir + "/v.sqlite"])
    #expect(
      try binary.run(["user", "add", "--user", "pat", "--password-stdin"], input: "s3cret\n").status == 0)
    #expect(try binary.run(["user", "add", "--user", "quinn"]).status == 0)
    #expect(try binary.run(["totp", "enroll", "--user", "pat"]).status == 0)
    #expect(try binary.run(["recovery", "new", "--user", "pat"]).status == 0)
    #expect(try binary.run(["app-password", "add", "--user", "pat", "--name", "mail"]).status == 0)
    let text = try binary.run(["user", "list"]).stdout
    let pat = try #require(text.split(separator: "\n").first { $0.hasPrefix("pat\t") })
    #expect(pat.contains(/phone app [0-9]+ \(unconfirmed\)/), "\(pat)")
    #expect(pat.contains("10 recovery codes") && pat.contains("1 app password") && pat.hasSuffix("password"))
    #expect(text.contains("quinn\tno factor"))
    let json = try #require(try binary.run(["user", "list", "--json"]).json?["users"] as? [[String: Any]])
    let entry = try #require(json.first { $0["user"] as? String == "pat" })
    #expect((entry["phoneApps"] as? [[String: Any]])?.map { $0["state"] as? String } == ["unconfirmed"])
    #expect(entry["recoveryCodesLeft"] as? Int == 10)
    #expect(entry["appPasswords"] as? [String] == ["mail"])
    #expect(entry["password"] as? Bool == true)
  }

  @Test func shellCompletionScriptsAreGenerated() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    for shell in ["bash", "zsh", "fish"] {
      let script = try binary.run(["--generate-completion-script", shell])
      #expect(script.status == 0)
      #expect(script.stdout.contains("verify") && script.stdout.contains("app-password"), "\(shell)")
    }
  }

  @Test func everyManPageListsTheExitStatuses() throws {
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let folder = root.appendingPathComponent("docs/man").path
    let pages = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
      $0.hasPrefix("otptoken.")
    }
    #expect(pages.count >= 40)
    for page in pages {
      let text = try String(contentsOfFile: folder + "/" + page, encoding: .utf8)
      #expect(text.contains(".Sh \"EXIT STATUS\""), "\(page)")
      for status in 0...3 { #expect(text.contains(".It \(status)\n"), "\(page) lacks status \(status)") }
      #expect(!text.contains(".Ex -std"), "\(page)")
    }
  }
}
