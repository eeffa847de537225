import Foundation
import OneTimePassword
import Synchronization
import StoreFixtures
import Testing
import Verifier
@testable import VerifierSQLite

/// A verifier process in stream mode: codes in on stdin, one JSON decision per line out.
final class StreamingVerifier {
  let process = Process()
  private let input = Pipe()
  private let output = Pipe()
  private var buffer = Data()

  static var binary: String {
    if let path = ProcessInfo.processInfo.environment["OTPTOKEN_BIN"] { return path }
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    return root.appendingPathComponent(".build/debug/otptoken").path
  }

  init(db: String, keyFile: String, user: String) throws {
    // Writing to a verifier the test has killed must fail with EPIPE, not end the test process.
    signal(SIGPIPE, SIG_IGN)
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = ["verify", "--db", db, "--key-file", keyFile, "--user", user, "--stdin"]
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
  }

  func send(_ code: String) throws {
    try input.fileHandleForWriting.write(contentsOf: Data((code + "\n").utf8))
  }

  /// The next decision, nil if the process ended.
  func receive() -> [String: Any]? {
    while true {
      if let newline = buffer.firstIndex(of: 0x0A) {
        let line = buffer[buffer.startIndex..<newline]
        buffer.removeSubrange(buffer.startIndex...newline)
        return (try? JSONSerialization.jsonObject(with: line)) as? [String: Any]
      }
      let chunk = output.fileHandleForReading.availableData
      if chunk.isEmpty { return nil }
      buffer.append(chunk)
    }
  }

  func finish() {
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
  }

  func kill() {
    if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
  }
}

/// A SQLite verifier file with one user and one token.
struct SharedDatabase {
  let directory = temporaryDirectory()
  var db: String { directory + "/verifier.sqlite" }
  var keyFile: String { directory + "/verifier.key" }
  let generator: HOTPGenerator
  let accounts: Accounts

  init() throws {
    let keys = MasterKeyRing.generate()
    try keys.write(to: directory + "/verifier.key")
    let store = try SQLiteStore(path: directory + "/verifier.sqlite")
    accounts = Accounts(store: store, hotp: try HOTPVerifier(store: store, keys: keys))
    generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    try seedAlice(store, keys)
  }
}

@Suite(.serialized) struct ExactlyOnceTests {
  @Test func sixteenConcurrentTasksAcceptEachCodeOnce() async throws {
    let shared = try SharedDatabase()
    try await raceEachCode(shared.accounts, rounds: 1000)
  }

  @Test func fourProcessesOnOneFileAcceptEachCodeOnce() throws {
    let shared = try SharedDatabase()
    let processes = try (0..<4).map { _ in
      try StreamingVerifier(db: shared.db, keyFile: shared.keyFile, user: "alice")
    }
    defer { for p in processes { p.finish() } }
    var perProcess = [Int](repeating: 0, count: 4)
    for round in 0..<1000 {
      let code = shared.generator.code(counter: UInt64(round)).text
      for p in processes { try p.send(code) }
      var accepted = 0
      for (index, p) in processes.enumerated() {
        let answer = try #require(p.receive(), "a verifier process died")
        if answer["result"] as? String == "accepted" {
          accepted += 1
          perProcess[index] += 1
        } else {
          #expect(answer["reason"] as? String == "replay")
        }
      }
      #expect(accepted == 1, "round \(round): \(accepted) acceptances")
    }
    // Every process won some rounds: they really raced.
    #expect(perProcess.filter { $0 > 0 }.count >= 2)
  }

  @Test func sigkillNeverLeadsToASecondAcceptance() throws {
    let shared = try SharedDatabase()
    var acceptedBefore: [String] = []
    var counter: UInt64 = 0
    var kills = 0
    var rng = SystemRandomNumberGenerator()
    // Rounds until enough codes were accepted across enough kills (bounded either way).
    for _ in 0..<40 where acceptedBefore.count < 40 || kills < 5 {
      let p = try StreamingVerifier(db: shared.db, keyFile: shared.keyFile, user: "alice")
      // Codes already accepted must all be refused by the new process.
      for code in acceptedBefore.suffix(15) {
        try p.send(code)
        let answer = try #require(p.receive())
        #expect(answer["result"] as? String == "refused", "an accepted code was accepted again after a kill")
      }
      // A stream of fresh codes; the kill comes at a random moment once the stream is flowing.
      var killerStarted = false
      while true {
        let code = shared.generator.code(counter: counter).text
        guard (try? p.send(code)) != nil, let answer = p.receive() else { break }
        if answer["result"] as? String == "accepted" { acceptedBefore.append(code) }
        counter += 1
        if !killerStarted {
          killerStarted = true
          let pid = p.process.processIdentifier
          let delay = UInt32.random(in: 1_000...30_000, using: &rng)
          Thread {
            usleep(delay)
            kill(pid, SIGKILL)
          }.start()
        }
      }
      p.kill()
      kills += 1
      // The in-flight code may or may not have been committed; the next round decides it once.
      counter += 1
    }
    #expect(kills >= 5)
    #expect(acceptedBefore.count >= 40)
    #expect(Set(acceptedBefore).count == acceptedBefore.count)
  }

  @Test func theDatabaseHoldsNoSecretInClear() async throws {
    let shared = try SharedDatabase()
    _ = try await shared.accounts.verify(user: "alice", code: shared.generator.code(counter: 0).text)
    for suffix in ["", "-wal"] {
      guard let data = FileManager.default.contents(atPath: shared.db + suffix) else { continue }
      #expect(data.range(of: Data(rfcKey)) == nil, "the raw key is in \(shared.db + suffix)")
      #expect(data.range(of: Data(rfcKey.prefix(8))) == nil)
    }
    let attributes = try FileManager.default.attributesOfItem(atPath: shared.db)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
  }

  /// The store copies its log back into the database file on a connection of its own, so the
  /// writer does not stop for it (SQLite's own checkpoint would run inside a commit only after
  /// 10,000 pages): after enough writes, the file without its log holds every one of them.
  @Test func theLogIsCopiedIntoTheFileOffTheWritersPath() throws {
    let directory = temporaryDirectory()
    let path = directory + "/verifier.sqlite"
    let store = try SQLiteStore(path: path, writesPerCheckpoint: 8)
    for index in 0..<16 { try store.append(Fixture.audit("line-\(index)")) }
    #expect(store.checkpointer.waitUntilIdle() >= 1)

    let copy = directory + "/file-alone.sqlite"
    try FileManager.default.copyItem(atPath: path, toPath: copy)
    let lines = try SQLiteStore(path: copy).auditEntries(user: nil, limit: 100).map(\.action)
    #expect(lines.filter { $0.hasPrefix("line-") }.count == 16)
  }
}
