import Foundation
import Testing

/// Batch enrolment with simulated tokens "plugged in" one after another as sockets in a folder.
@Suite struct EnrollmentTests {
  final class Desk {
    let dir = temporaryDirectory()
    let binary: Binary
    var sockets: String { dir + "/sockets" }

    init() throws {
      binary = Binary(runtimeDirectory: dir, extra: ["OTPTOKEN_DB": dir + "/verifier.sqlite"])
      try FileManager.default.createDirectory(atPath: sockets, withIntermediateDirectories: true)
      try "user\ncarol\ndan\nerin\n".write(toFile: dir + "/users.csv", atomically: true, encoding: .utf8)
    }

    func startEnrollment() throws -> (Process, LogCollector) {
      let err = Pipe()
      let process = try binary.start(
        [
          "enroll", "--users", dir + "/users.csv", "--report", dir + "/report.csv", "--json-report",
          dir + "/report.json", "--socket-dir", sockets, "--no-hidapi", "--create-users", "--poll", "0.1",
        ], stderr: err)
      return (process, LogCollector(err))
    }

    /// Plugs in token `serial`, presses it until the enrolment log shows `expected`, unplugs it.
    func plug(_ serial: String, until expected: String, log: LogCollector) throws -> Bool {
      let socket = sockets + "/\(serial).sock"
      let sim = try binary.start([
        "sim", "serve", "--state", dir + "/token-\(serial)", "--socket", socket, "--serial", serial,
      ])
      defer {
        sim.terminate()
        sim.waitUntilExit()
      }
      #expect(waitForSocket(socket))
      for _ in 0..<80 {
        usleep(100_000)
        _ = try? binary.run(["sim", "press", "--socket", socket])
        if log.text.contains(expected) { return true }
      }
      return false
    }

    func code(of serial: String) throws -> String {
      let sim = try binary.start([
        "sim", "serve", "--state", dir + "/token-\(serial)", "--socket", sockets + "/x.sock",
      ])
      defer {
        sim.terminate()
        sim.waitUntilExit()
      }
      #expect(waitForSocket(sockets + "/x.sock"))
      return try binary.run(["sim", "press", "--socket", sockets + "/x.sock"]).stdout
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }

  @Test func interruptedRunResumesWithoutProgrammingATokenTwice() throws {
    let desk = try Desk()
    var (enroll, log) = try desk.startEnrollment()
    #expect(try desk.plug("111", until: "[1/3] token 111 enrolled for carol", log: log), "\(log.text)")
    #expect(log.text.contains("[1/3] plug in a token for carol"))
    #expect(log.text.contains("token 111 programmed for carol: hold its button for 3 to 5 seconds now"))
    kill(enroll.processIdentifier, SIGKILL)  // the run is interrupted
    enroll.waitUntilExit()
    let carolCode = try desk.code(of: "111")

    (enroll, log) = try desk.startEnrollment()
    // Carol's token plugged in again: recognised, not reprogrammed.
    #expect(try desk.plug("111", until: "token 111: enrolled for carol", log: log), "\(log.text)")
    #expect(log.text.contains("[2/3] plug in a token for dan"))  // resumed after the one done
    #expect(try desk.plug("222", until: "[2/3] token 222 enrolled for dan", log: log), "\(log.text)")
    #expect(try desk.plug("333", until: "[3/3] token 333 enrolled for erin", log: log), "\(log.text)")
    for _ in 0..<100 where enroll.isRunning { usleep(100_000) }  // it ends once the list is done
    #expect(!enroll.isRunning)
    if enroll.isRunning { enroll.terminate() }
    enroll.waitUntilExit()
    #expect(enroll.terminationStatus == 0)

    let report = try String(contentsOfFile: desk.dir + "/report.csv", encoding: .utf8)
    let lines = report.split(separator: "\n").dropFirst()
    #expect(lines.count == 3)
    #expect(lines.map { $0.split(separator: ",")[0] } == ["carol", "dan", "erin"])
    let json = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: desk.dir + "/report.json")))
    #expect(((json as? [String: Any])?["tokens"] as? [Any])?.count == 3)
    // Carol's token still holds the secret it was enrolled with.
    #expect(try desk.binary.run(["verify", "--user", "carol", carolCode]).status == 0)
  }
}
