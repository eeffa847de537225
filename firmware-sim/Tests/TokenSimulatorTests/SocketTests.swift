import Foundation
import OTPWire
import Testing
import TokenFirmware
import VirtualHID

@testable import TokenSimulator

/// A server on its own thread for the duration of a test.
final class RunningServer: @unchecked Sendable {
  let server: VirtualHIDServer
  let path: String
  private let done = DispatchSemaphore(value: 0)

  init(token: SimulatedToken, maximumClients: Int = 256) throws {
    path = Support.temporaryDirectory() + "/token.sock"
    server = try VirtualHIDServer(socketPath: path, token: token, maximumClients: maximumClients)
    let server = self.server
    let done = self.done
    Thread {
      server.run()
      done.signal()
    }.start()
  }

  func stop() {
    server.stop()
    done.wait()
  }
}

@Suite struct SocketTests {
  @Test func programAndPressThroughTheSocket() throws {
    let running = try RunningServer(token: try SimulatedToken(serial: 12_345_678))
    defer { running.stop() }
    let client = try VirtualHIDClient(path: running.path)
    let info = try client.info()
    #expect(info.vendorId == 0x1050 && info.productId == 0x0407 && info.serial == "12345678")
    #expect(info.usagePage == 1 && info.usage == 6 && info.release == 0x0543)
    #expect(info.reportDescriptor == OTPInterface.reportDescriptor.hexString())
    #expect(info.wire == VirtualHIDDeviceInfo.wireVersion)
    let settings = try HOTPSlotSettings(key: Support.rfcKey).configuration()
    #expect(try Support.write(client, .configure2, settings.commandPayload()) == 1)
    #expect(try (0..<3).map { _ in try Support.press(client) } == ["755224\r", "287082\r", "359152\r"])
  }

  @Test func inputReportsFanOutToEveryClientInOrder() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    let running = try RunningServer(token: token)
    defer { running.stop() }
    let presser = try VirtualHIDClient(path: running.path)
    let listener = try VirtualHIDClient(path: running.path)
    _ = try listener.info()  // make sure the listener is connected before the press
    #expect(try Support.press(presser) == "755224\r")
    #expect(try Support.press(presser) == "287082\r")
    var decoder = KeyboardDecoder()
    while let bytes = try listener.readInput(timeoutMilliseconds: 2000) {
      try decoder.feed(KeyboardReport(bytes: bytes))
      if decoder.text.count == 14 { break }
    }
    #expect(decoder.text == "755224\r287082\r")
  }

  /// Sends raw bytes on a fresh connection and returns what came back before the server closed
  /// it (or nil if it stayed open).
  func sendRaw(_ bytes: [UInt8], to path: String) throws -> [UInt8]? {
    let fd = try UnixSocket.connect(path: path)
    defer { close(fd) }
    try UnixSocket.writeAll(fd, bytes)
    var received: [UInt8] = []
    while try UnixSocket.waitReadable(fd, timeoutMilliseconds: 2000) {
      let chunk = try UnixSocket.read(fd)
      if chunk.isEmpty { return received }
      received += chunk
    }
    return nil
  }

  @Test func badInputClosesOnlyThatClient() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    let running = try RunningServer(token: token)
    defer { running.stop() }
    let good = try VirtualHIDClient(path: running.path)
    #expect(try Support.press(good) == "755224\r")

    let hostile: [[UInt8]] = [
      [0x55, 0x00, 0x00, 0x00],  // unknown kind
      [0x02, 0x00, 0xFF, 0xFF] + Array(repeating: 0, count: 64),  // absurd length
      [0x02, 0x00, 0x00, 0x03, 1, 2, 3],  // SET_FEATURE of 3 bytes
      [0x10, 0x00, 0x00, 0x01, 7],  // press slot 7
      [0x81, 0x00, 0x00, 0x00],  // a token-to-host kind
      [0x03, 0x00, 0x00, 0x02, 0, 0],  // GET_FEATURE with a payload
    ]
    for bytes in hostile {
      let answer = try #require(
        try sendRaw(bytes, to: running.path), "the server kept a malformed connection open")
      #expect(answer.first == 0xFF, "expected an ERROR message for \(bytes.prefix(4))")
    }

    var rng = SystemRandomNumberGenerator()
    for _ in 0..<200 {
      let noise = (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng)
      }
      let fd = try UnixSocket.connect(path: running.path)
      try? UnixSocket.writeAll(fd, noise)
      close(fd)  // often truncated mid-message
    }

    // Frames with a bad CRC are valid messages: the token refuses them the way a token does.
    let bad = try VirtualHIDClient(path: running.path)
    var reports = try Frame(
      command: .configure2,
      payload: HOTPSlotSettings(key: Array(repeating: 3, count: 20)).configuration().commandPayload()
    ).reports
    reports[reports.count - 1] = FeatureReport(data: [0, 0x03, 0, 0, 0, 0, 0], flags: 0x89)
    for report in reports { try bad.setFeature(report.bytes) }
    #expect(StatusReport(try FeatureReport(bytes: bad.getFeature())).programmingSequence == 1)

    // The token and the first client are unharmed.
    #expect(try good.info().serial == "12345678")
    #expect(try Support.press(good) == "287082\r")
  }
}

@Suite struct SocketLimitsTests {
  /// Past the cap, a connection waits in the kernel's queue and is served once another leaves.
  @Test func connectionsBeyondTheCapWaitTheirTurn() throws {
    let running = try RunningServer(token: try SimulatedToken(serial: 5), maximumClients: 2)
    defer { running.stop() }
    let first = try VirtualHIDClient(path: running.path)
    let second = try VirtualHIDClient(path: running.path)
    #expect(try first.info().serial == "5" && second.info().serial == "5")
    let third = try VirtualHIDClient(path: running.path)
    third.answerTimeoutMilliseconds = 300
    #expect(throws: VirtualHIDError.self) { try third.info() }  // not served while two are
    first.close()  // the third is accepted now, and its waiting request answered
    third.answerTimeoutMilliseconds = 5000
    #expect(try third.info().serial == "5")
    #expect(try second.info().serial == "5")
  }

  /// `--socket` replaces a stale socket and refuses anything else at the path.
  @Test func onlyAStaleSocketIsReplaced() throws {
    let folder = Support.temporaryDirectory()
    let file = folder + "/notes.txt"
    try "keep me".write(toFile: file, atomically: true, encoding: .utf8)
    #expect(throws: VirtualHIDError.self) { try UnixSocket.listen(path: file) }
    #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")
    #expect(throws: VirtualHIDError.self) { try UnixSocket.listen(path: folder) }
    let link = folder + "/link.sock"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
    #expect(throws: VirtualHIDError.self) { try UnixSocket.listen(path: link) }
    #expect(FileManager.default.fileExists(atPath: file))
    // A socket left behind by a process that died is replaced.
    let stale = folder + "/stale.sock"
    close(try UnixSocket.listen(path: stale))
    let fresh = try UnixSocket.listen(path: stale)
    close(fresh)
  }
}
