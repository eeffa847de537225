#if os(Linux)
  import Foundation
  import Glibc
  import Testing
  import TestScratch

  @Suite struct SimUSBIPCLITests {
    @Test func contradictoryOrMalformedOptionsAreUsageErrors() throws {
      let dir = temporaryDirectory()
      let binary = Binary(runtimeDirectory: dir)
      let state = ["sim", "serve", "--state", dir + "/state"]
      for extra in [
        ["--usbip", "--uhid"], ["--socket", dir + "/s.sock", "--usbip-trace", dir + "/t"],
        ["--usbip", "--usbip-listen", "127.0.0.1"], ["--usbip", "--usbip-listen", "127.0.0.1:70000"],
      ] {
        let result = try binary.run(state + extra)
        #expect(result.status == 2, "\(extra): \(result.stderr)")
      }
      let notAnAddress = try binary.run(state + ["--usbip", "--usbip-listen", "localhost:3240"])
      #expect(notAnAddress.status == 3 && notAnAddress.stderr.contains("not an IP address"))
      #expect(!FileManager.default.fileExists(atPath: dir + "/t"), "a refused start created the trace file")
    }

    /// The command exports the token on loopback, lists it to a client, records what the client
    /// sent in a 0600 file, takes presses on its socket while nothing is attached, and stops on
    /// SIGTERM.
    @Test func simServeUSBIPListsTheTokenAndRecordsTheClient() throws {
      let dir = temporaryDirectory()
      let binary = Binary(runtimeDirectory: dir)
      let socket = dir + "/press.sock"
      let trace = dir + "/usbip.trace"
      let stderr = Pipe()
      let log = LogCollector(stderr)
      let sim = try binary.start(
        [
          "sim", "serve", "--usbip", "--usbip-listen", "127.0.0.1:0", "--usbip-trace", trace, "--state",
          dir + "/state", "--socket", socket, "--serial", "12345678",
        ], stderr: stderr)
      defer {
        if sim.isRunning { sim.terminate() }
        sim.waitUntilExit()
      }
      #expect(waitForSocket(socket))
      var port: UInt16?
      for _ in 0..<400 where port == nil {
        port = log.text.split(separator: "127.0.0.1:").dropFirst().first.flatMap {
          UInt16($0.prefix { $0.isNumber })
        }
        if port == nil { usleep(10_000) }
      }
      let bound = try #require(port, "no port in: \(log.text)")
      let client = try #require(LoopbackClient(port: bound))
      client.send([0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0])
      let list = client.read(12 + 312 + 4)
      #expect(list.count == 328 && Array(list[312..<316]) == [0x10, 0x50, 0x04, 0x07])
      client.hangUp()

      let pressed = try binary.run(["sim", "press", "--socket", socket, "--json"])
      #expect(pressed.status == 0)
      sim.terminate()
      sim.waitUntilExit()
      #expect(sim.terminationStatus == 0)
      let recorded = try String(contentsOfFile: trace, encoding: .utf8)
      #expect(recorded == "1 0111800500000000\n")
      let mode = try FileManager.default.attributesOfItem(atPath: trace)[.posixPermissions] as? Int
      #expect(mode == 0o600)
    }
  }
#endif
