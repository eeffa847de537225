import Foundation
import OTPWire
import TestScratch
import VirtualHID

/// Test helpers: temporary folders, the built binary, and a host that programs a token over the
/// virtual HID socket with plain protocol writes.
enum Support {
  static let rfcKey = Array("12345678901234567890".utf8)

  static func temporaryDirectory() -> String { scratchDirectory("simulator") }

  /// The `otptoken` binary built next to the tests (or `$OTPTOKEN_BIN`).
  static var binary: String {
    if let path = ProcessInfo.processInfo.environment["OTPTOKEN_BIN"] { return path }
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { root.deleteLastPathComponent() }
    return root.appendingPathComponent(".build/debug/otptoken").path
  }

  /// Waits (bounded) until something accepts connections on `path`.
  static func waitForSocket(_ path: String, attempts: Int = 400) -> Bool {
    for _ in 0..<attempts {
      if let fd = try? UnixSocket.connect(path: path) {
        close(fd)
        return true
      }
      usleep(10_000)
    }
    return false
  }

  /// Writes a frame the way hosts do; returns the programming sequence after it.
  @discardableResult
  static func write(_ client: VirtualHIDClient, _ command: Command, _ payload: [UInt8]) throws -> UInt8 {
    for report in try Frame(command: command, payload: payload).reports {
      try client.setFeature(report.bytes)
    }
    return StatusReport(try FeatureReport(bytes: client.getFeature())).programmingSequence
  }

  /// Presses and decodes what this client received.
  static func press(_ client: VirtualHIDClient, slot: Int = 2) throws -> String {
    try client.press(slot: slot)
    return try drainTyped(client)
  }

  static func drainTyped(_ client: VirtualHIDClient) throws -> String {
    var decoder = KeyboardDecoder()
    while let bytes = try client.readInput(timeoutMilliseconds: 0) {
      try decoder.feed(KeyboardReport(bytes: bytes))
    }
    return decoder.text
  }
}
