import Foundation
import OTPWire
import OneTimePassword
import Testing
import TokenFirmware
import VirtualHID

@testable import TokenSimulator

/// The simulator daemon as a separate process, killed with SIGKILL at random moments.
@Suite struct CrashTests {
  final class Daemon {
    let process = Process()
    init(state: String, socket: String) throws {
      process.executableURL = URL(fileURLWithPath: Support.binary)
      process.arguments = ["sim", "serve", "--state", state, "--socket", socket, "--serial", "12345678"]
      process.standardError = FileHandle.nullDevice
      try process.run()
    }
    func kill() {
      if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
    }
  }

  @Test func sigkillNeverRepeatsACodeNorMovesTheCounterBack() throws {
    #expect(
      FileManager.default.isExecutableFile(atPath: Support.binary), "build otptoken first: \(Support.binary)")
    let dir = Support.temporaryDirectory()
    let state = dir + "/state"
    let socket = dir + "/token.sock"
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: Support.rfcKey))

    var daemon = try Daemon(state: state, socket: socket)
    #expect(Support.waitForSocket(socket))
    let setup = try VirtualHIDClient(path: socket)
    let config = try HOTPSlotSettings(key: Support.rfcKey).configuration()
    #expect(try Support.write(setup, .configure2, config.commandPayload()) == 1)
    setup.close()

    var codes: [String] = []
    var lastStoredCounter: UInt64 = 0
    var presses = 0
    var restarts = 0
    var rng = SystemRandomNumberGenerator()
    while presses < 200 {
      // A few clean presses, then a kill at a random moment while presses go on.
      let client = try VirtualHIDClient(path: socket)
      let cleanPresses = Int.random(in: 0...15, using: &rng)
      let delay = UInt32.random(in: 0...2000, using: &rng)
      let pid = daemon.process.processIdentifier
      var issued = 0
      var killScheduled = false
      while presses < 200 {
        if issued == cleanPresses && !killScheduled {
          killScheduled = true
          Thread {
            usleep(delay)
            kill(pid, SIGKILL)
          }.start()
        }
        if killScheduled && issued > cleanPresses + 50 {
          daemon.process.waitUntilExit()  // the kill is certain; stop pressing into a dying process
        }
        presses += 1
        issued += 1
        do {
          try client.press(slot: 2)
          codes.append(try Support.drainTyped(client))
        } catch {
          let partial = (try? Support.drainTyped(client)) ?? ""
          if !partial.isEmpty { codes.append(partial) }
          break
        }
      }
      daemon.kill()
      // The state must load after every kill, and its counter never goes back.
      let loaded = try #require(try DirectoryStateStore(directory: state).load())
      let counter = try #require(loaded.slot2?.counter)
      #expect(counter >= lastStoredCounter)
      lastStoredCounter = counter
      guard presses < 200 else { break }
      daemon = try Daemon(state: state, socket: socket)
      #expect(Support.waitForSocket(socket))
      restarts += 1
    }

    let complete = codes.filter { $0.count == 7 && $0.hasSuffix("\r") }.map { String($0.prefix(6)) }
    #expect(restarts >= 3)
    #expect(complete.count >= 150)
    #expect(Set(complete).count == complete.count, "a code was typed twice")
    // Every code maps to a counter, and counters strictly increase in the order typed.
    let counters = try complete.map { try #require(generator.find(try OTPCode($0), from: 0, count: 400)) }
    #expect(zip(counters, counters.dropFirst()).allSatisfy { $0 < $1 })
  }
}
