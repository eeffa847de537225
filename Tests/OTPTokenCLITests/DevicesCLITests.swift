import Foundation
import Testing

@Suite struct DevicesCLITests {
  @Test func noTokenIsAnEmptyListAndExitZero() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    let result = try binary.run(["devices", "--json"])
    #expect(result.status == 0)
    #expect((result.json?["devices"] as? [Any])?.isEmpty == true)
    let plain = try binary.run(["devices"])
    #expect(plain.status == 0 && plain.stderr.contains("No token found"))
  }

  @Test func simulatedTokensUnderTheRuntimeDirectoryAreListed() throws {
    let runtime = temporaryDirectory()
    try FileManager.default.createDirectory(atPath: runtime + "/otptoken", withIntermediateDirectories: true)
    let binary = Binary(runtimeDirectory: runtime)
    let socket = runtime + "/otptoken/desk.sock"
    let sim = try binary.start([
      "sim", "serve", "--state", runtime + "/state", "--socket", socket, "--serial", "4242",
    ])
    defer {
      sim.terminate()
      sim.waitUntilExit()
    }
    #expect(waitForSocket(socket))
    let result = try binary.run(["devices", "--json"])
    #expect(result.status == 0)
    let devices = try #require(result.json?["devices"] as? [[String: Any]])
    #expect(devices.count == 1)
    #expect(devices.first?["serial"] as? Int == 4242)
    #expect(devices.first?["firmware"] as? String == "5.4.3")
    #expect(devices.first?["kind"] as? String == "socket")
  }

  @Test func unreachableSocketIsAnEnvironmentError() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    let result = try binary.run(["devices", "--socket", "/nonexistent/token.sock"])
    #expect(result.status == 3)
    #expect(result.stderr.contains("/nonexistent/token.sock"))
  }

  @Test func badUsageExitsTwo() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    #expect(try binary.run(["devices", "--frobnicate"]).status == 2)
    #expect(try binary.run(["sim", "press", "--socket", "/x", "--slot", "3"]).status == 2)
    #expect(try binary.run(["devices", "--product", "zz"]).status == 2)
    let help = try binary.run(["devices", "--help"])
    #expect(help.status == 0 && help.stdout.contains("Example"))
  }

  @Test func simServeStopsCleanlyOnSIGTERM() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir)
    let socket = dir + "/t.sock"
    let sim = try binary.start(["sim", "serve", "--state", dir + "/state", "--socket", socket])
    #expect(waitForSocket(socket))
    sim.terminate()
    sim.waitUntilExit()
    #expect(sim.terminationStatus == 0)
    #expect(!FileManager.default.fileExists(atPath: socket))
    #expect(FileManager.default.fileExists(atPath: dir + "/state/state.json"))
  }
}
