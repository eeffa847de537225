#if os(Linux)
  import Foundation
  import Glibc
  import OTPWire
  import Synchronization
  import Testing
  import TestScratch
  import TokenSimulator
  import TokenSimulatorUSBIP

  @Suite struct USBIPServerTests {
    @Test func aClientAttachesEnumeratesAndReceivesPressesWhileOthersAreRefused() throws {
      let token = try SimulatedToken.programmed(
        serial: 12_345_678, settings: HOTPSlotSettings(key: Array("12345678901234567890".utf8)))
      let logged = Mutex<[String]>([])
      let detached = DispatchSemaphore(value: 0)
      let server = try USBIPServer(
        token: token, port: 0,
        log: { line in
          logged.withLock { $0.append(line) }
          if line.contains("detached") { detached.signal() }
        })
      let thread = Thread { server.run() }
      thread.start()
      defer { server.stop() }

      let holder = try #require(LoopbackClient(port: server.port))
      holder.send(importRequest)
      let imported = holder.read(8 + 312)
      #expect(imported.count == 320 && Array(imported[0..<8]) == [0x01, 0x11, 0x00, 0x03, 0, 0, 0, 0])
      holder.send(
        submitBytes(
          sequence: 1, directionIn: true, endpoint: 0, length: 18, setup: [0x80, 6, 0, 1, 0, 0, 18, 0]))
      let descriptor = try Reply(holder.read(48 + 18))
      #expect(descriptor.sequence == 1 && descriptor.data == USBDescriptors(identity: token.identity).device)

      // A second client may list the token but not take it.
      let other = try #require(LoopbackClient(port: server.port))
      other.send(importRequest)
      #expect(other.read(8) == [0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1])
      // A client speaking nonsense is disconnected; the token is unchanged.
      let hostile = try #require(LoopbackClient(port: server.port))
      hostile.send([0x01, 0x11, 0x80, 0x09] + [UInt8](repeating: 0xEE, count: 60))
      #expect(hostile.closedByServer)

      // A press completes the waiting interrupt transfer with the first key of "755224".
      holder.send(submitBytes(sequence: 2, directionIn: true, endpoint: 1, length: 8))
      let typed = token.press(.two)
      server.type(typed)
      let key = try Reply(holder.read(48 + 8))
      #expect(key.sequence == 2 && key.status == 0 && key.data == typed[0].bytes)
      #expect((try? KeyboardDecoder.text(of: typed)) == "755224\r")

      // Detach: the holder hangs up; the token can be attached again.
      holder.hangUp()
      #expect(detached.wait(timeout: .now() + 2) == .success, "the server missed the detach")
      #expect(!server.isAttached)
      let next = try #require(LoopbackClient(port: server.port))
      next.send(importRequest)
      #expect(Array(next.read(320).prefix(8)) == [0x01, 0x11, 0x00, 0x03, 0, 0, 0, 0])
      server.stop()
      #expect(next.closedByServer, "stopping the server unplugs the token")
      #expect(logged.withLock { $0.contains { $0.contains("malformed") } })
    }

    @Test func itRefusesAnAddressThatIsNotOne() throws {
      #expect(throws: USBIPServerError.self) {
        try USBIPServer(token: try SimulatedToken(serial: 1), address: "localhost", port: 0)
      }
    }
  }
#endif
