import Foundation
import Testing

/// A verifier database and a simulated token in its own process, driven through the binaries.
final class Deployment {
  let dir = temporaryDirectory()
  let binary: Binary
  var socket: String { dir + "/token.sock" }
  var sim: Process?

  init() throws {
    binary = Binary(runtimeDirectory: dir, extra: ["OTPTOKEN_DB": dir + "/verifier.sqlite"])
    try startToken()
  }

  deinit { stopToken() }

  func startToken() throws {
    unlink(socket)  // a killed simulator leaves its socket file behind
    sim = try binary.start([
      "sim", "serve", "--state", dir + "/token", "--socket", socket, "--serial", "12345678",
    ])
    #expect(waitForSocket(socket))
  }

  func stopToken(signal: Int32 = SIGTERM) {
    guard let sim, sim.isRunning else { return }
    kill(sim.processIdentifier, signal)
    sim.waitUntilExit()
    self.sim = nil
  }

  func run(_ arguments: [String]) throws -> Binary.Result { try binary.run(arguments) }

  /// Presses the token's button; the code it typed.
  func press() throws -> String {
    try run(["sim", "press", "--socket", socket]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// `otptoken register` for a user, pressing the button until the registration ends.
  func register(_ user: String, extra: [String] = []) throws -> (status: Int32, stderr: String) {
    let err = Pipe()
    let process = try binary.start(
      ["register", "--user", user, "--socket", socket, "--no-hidapi", "--timeout", "20"] + extra, stderr: err)
    var attempts = 0
    while process.isRunning && attempts < 100 {
      usleep(100_000)
      _ = try? press()
      attempts += 1
    }
    process.waitUntilExit()
    return (
      process.terminationStatus,
      String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    )
  }

  func verify(_ user: String, _ code: String) throws -> (status: Int32, reason: String?) {
    let result = try run(["verify", "--user", user, code, "--json"])
    return (result.status, result.json?["reason"] as? String)
  }

  /// The number of audit lines: a measure of stored state for "nothing changed".
  func auditCount() throws -> Int {
    (try run(["audit", "--limit", "100000", "--json"]).json?["entries"] as? [Any])?.count ?? -1
  }

  func tokens(of user: String) throws -> [[String: Any]] {
    let users = try run(["user", "list", "--json"]).json?["users"] as? [[String: Any]] ?? []
    return users.first { $0["user"] as? String == user }?["tokens"] as? [[String: Any]] ?? []
  }
}

@Suite(.serialized) struct EndToEndTests {
  @Test func registerVerifyReplayAndResync() throws {
    let d = try Deployment()
    #expect(try d.run(["user", "add", "--user", "alice"]).status == 0)
    let registration = try d.register("alice")
    #expect(registration.status == 0, "\(registration.stderr)")
    #expect(registration.stderr.contains("registered token 12345678 to alice"))

    let code = try d.press()
    #expect(try d.verify("alice", code) == (0, "accepted"))
    #expect(try d.verify("alice", code) == (1, "replay"))

    for _ in 0..<40 { _ = try d.press() }  // presses that never reach the verifier
    #expect(try d.verify("alice", try d.press()) == (1, "wrong-code"))  // ahead: refused, remembered
    #expect(try d.verify("alice", try d.press()) == (0, "resynced"))

    for _ in 0..<300 { _ = try d.press() }
    let first = try d.press()
    let second = try d.press()
    #expect(try d.run(["resync", "--user", "alice", first, second]).status == 0)
    #expect(try d.verify("alice", try d.press()) == (0, "accepted"))
  }

  @Test func listenVerifiesEachPressForTheTokensOwner() throws {
    let d = try Deployment()
    _ = try d.run(["user", "add", "--user", "alice"])
    #expect(try d.register("alice").status == 0)
    let out = Pipe()
    let listen = Process()
    listen.executableURL = URL(fileURLWithPath: Binary.path)
    listen.arguments = ["listen", "--socket", d.socket, "--no-hidapi", "--count", "2", "--json"]
    listen.environment = d.binary.environment
    listen.standardOutput = out
    listen.standardError = FileHandle.nullDevice
    try listen.run()
    let log = LogCollector(out)
    // Press until both presses were heard (the listener may connect after the first press).
    for _ in 0..<50 where listen.isRunning {
      _ = try d.press()
      usleep(100_000)
    }
    listen.waitUntilExit()
    #expect(listen.terminationStatus == 0)
    let lines = log.text.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
    }
    #expect(lines.count == 2)
    #expect(lines.allSatisfy { $0["user"] as? String == "alice" && $0["result"] as? String == "accepted" })
  }

  @Test func tokenStoppedBeforeProgrammingLeavesNothingStored() throws {
    let d = try Deployment()
    _ = try d.run(["user", "add", "--user", "alice"])
    kill(d.sim!.processIdentifier, SIGSTOP)  // the token hangs: unplugged as far as USB goes
    let result = try d.run(["register", "--user", "alice", "--socket", d.socket, "--no-hidapi"])
    kill(d.sim!.processIdentifier, SIGCONT)
    #expect(result.status == 3, "\(result.stderr)")
    #expect(result.stderr.contains("did not answer") && result.stderr.contains(d.socket))
    #expect(try d.tokens(of: "alice").isEmpty)
  }

  @Test func tokenGoneBeforeThePressCountsForNothingAndCanBeRetried() throws {
    let d = try Deployment()
    _ = try d.run(["user", "add", "--user", "alice"])
    let err = Pipe()
    let register = try d.binary.start(
      ["register", "--user", "alice", "--socket", d.socket, "--no-hidapi", "--timeout", "20"], stderr: err)
    // Wait until the token is programmed, then pull it (kill the simulator).
    let log = LogCollector(err)
    for _ in 0..<200 where !log.text.contains("programmed") { usleep(50_000) }
    #expect(log.text.contains("programmed"))
    d.stopToken(signal: SIGKILL)
    register.waitUntilExit()
    usleep(100_000)
    let message = log.text
    #expect(register.terminationStatus == 1, "\(message)")
    #expect(message.contains("not confirmed") && message.contains("otptoken register"))
    #expect(try d.tokens(of: "alice").first?["state"] as? String == "unconfirmed")

    // Plugged back in: its codes count for nothing until the registration is redone.
    try d.startToken()
    #expect(try d.verify("alice", try d.press()) == (1, "no-factor"))
    #expect(try d.register("alice").status == 0)
    #expect(try d.verify("alice", try d.press()) == (0, "accepted"))
  }

  @Test func aSecondUserCannotUseTheFirstUsersCodeOrToken() throws {
    let d = try Deployment()
    _ = try d.run(["user", "add", "--user", "alice"])
    _ = try d.run(["user", "add", "--user", "bob"])
    #expect(try d.register("alice").status == 0)
    let code = try d.press()
    #expect(try d.verify("bob", code) == (1, "no-factor"))
    let stolen = try d.run([
      "register", "--user", "bob", "--socket", d.socket, "--no-hidapi", "--code", "000000",
    ])
    #expect(stolen.status == 1 && stolen.stderr.contains("belongs to another user"))
    #expect(try d.verify("alice", code) == (0, "accepted"))
    let again = try d.run([
      "register", "--user", "alice", "--socket", d.socket, "--no-hidapi", "--code", "000000",
    ])
    #expect(again.status == 1 && again.stderr.contains("--replace"))
  }

  @Test func badInputChangesNothing() throws {
    let d = try Deployment()
    _ = try d.run(["user", "add", "--user", "alice"])
    #expect(try d.register("alice").status == 0)
    let before = try d.auditCount()
    for code in ["", "abcdef", "12 456", String(repeating: "7", count: 100_000)] {
      let result = try d.run(["verify", "--user", "alice", code])
      #expect(result.status == 2, "code of \(code.count) characters")
      #expect(result.stderr.contains("code") && result.stderr.count < 500)
    }
    let unknown = try d.run(["verify", "--user", "nobody", "123456"])
    #expect(unknown.status == 1 && unknown.stderr.contains("nobody"))
    #expect(try d.auditCount() == before)
    #expect(try d.verify("alice", try d.press()) == (0, "accepted"))
  }

  @Test func unreadableAndLockedDatabasesAreEnvironmentErrors() throws {
    let d = try Deployment()
    let garbage = d.dir + "/garbage.sqlite"
    try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: garbage))
    let unreadable = try d.run(["verify", "--db", garbage, "--user", "alice", "123456"])
    #expect(unreadable.status == 3 && unreadable.stderr.contains("not a verifier database"))
    let nowhere = try d.run(["verify", "--db", garbage + "/inside.sqlite", "--user", "alice", "123456"])
    #expect(nowhere.status == 3)

    _ = try d.run(["user", "add", "--user", "alice"])
    #expect(try d.register("alice").status == 0)
    let before = try d.auditCount()
    // Another process holds the database locked.
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    holder.arguments = [
      "python3", "-c",
      "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
      d.dir + "/verifier.sqlite",
    ]
    let input = Pipe()
    let output = Pipe()
    holder.standardInput = input
    holder.standardOutput = output
    try holder.run()
    _ = output.fileHandleForReading.availableData  // "locked"
    let locked = try d.run(["verify", "--user", "alice", try d.press(), "--lock-timeout", "0.5"])
    try input.fileHandleForWriting.close()
    holder.waitUntilExit()
    #expect(locked.status == 3, "\(locked.stderr)")
    #expect(locked.stderr.contains("locked by another process"))
    #expect(try d.auditCount() == before)
  }
}
