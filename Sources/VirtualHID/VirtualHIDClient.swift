import Glibc  // Linux only: Unix sockets through glibc
import Foundation

/// A blocking client of one simulated token's socket. Requests are answered in order; INPUT
/// messages that arrive meanwhile are queued for ``readInput(timeoutMilliseconds:)``.
/// Not thread-safe: one user at a time.
public final class VirtualHIDClient {
  public let path: String
  private var fd: Int32
  private var decoder = VirtualHIDDecoder()
  private var inputs: [[UInt8]] = []
  /// How long a request may wait for its answer.
  public var answerTimeoutMilliseconds: Int32 = 5000

  /// Connects to the token listening on `path`.
  public init(path: String) throws(VirtualHIDError) {
    self.path = path
    fd = try UnixSocket.connect(path: path)
  }

  deinit { close() }

  /// Closes the connection.
  public func close() {
    if fd >= 0 {
      _ = Glibc.close(fd)
      fd = -1
    }
  }

  private func receiveMessage(timeoutMilliseconds: Int32) throws(VirtualHIDError) -> VirtualHIDMessage? {
    while true {
      if let message = try decoder.next() { return message }
      guard fd >= 0 else { throw .connectionClosed }
      guard try UnixSocket.waitReadable(fd, timeoutMilliseconds: timeoutMilliseconds) else { return nil }
      let bytes = try UnixSocket.read(fd)
      guard !bytes.isEmpty else { throw .connectionClosed }
      decoder.append(bytes)
    }
  }

  /// Sends a request and returns the payload of its answer.
  public func request(_ message: VirtualHIDMessage) throws(VirtualHIDError) -> [UInt8] {
    guard fd >= 0 else { throw .connectionClosed }
    guard let expected = message.kind.answer else { throw .unexpectedAnswer("\(message.kind) is no request") }
    try UnixSocket.writeAll(fd, message.bytes)
    while true {
      guard let answer = try receiveMessage(timeoutMilliseconds: answerTimeoutMilliseconds) else {
        throw .timedOut
      }
      switch answer.kind {
      case .input: inputs.append(answer.payload)
      case .error: throw .tokenError(String(decoding: answer.payload, as: UTF8.self))
      case expected: return answer.payload
      default: throw .unexpectedAnswer("\(answer.kind) to \(message.kind)")
      }
    }
  }

  /// How the token presents itself; a token speaking another version of the wire format is
  /// refused.
  public func info() throws(VirtualHIDError) -> VirtualHIDDeviceInfo {
    let payload = try request(VirtualHIDMessage(.getInfo))
    let info: VirtualHIDDeviceInfo
    do {
      info = try JSONDecoder().decode(VirtualHIDDeviceInfo.self, from: Data(payload))
    } catch {
      throw .unexpectedAnswer("INFO is not the expected JSON object")
    }
    let version = info.wire ?? 1
    guard version == VirtualHIDDeviceInfo.wireVersion else {
      throw .unexpectedAnswer(
        "the token speaks version \(version) of the wire format; this client speaks \(VirtualHIDDeviceInfo.wireVersion)"
      )
    }
    return info
  }

  /// Writes one 8-byte feature report.
  public func setFeature(_ report: [UInt8]) throws(VirtualHIDError) {
    _ = try request(VirtualHIDMessage(.setFeature, payload: report))
  }

  /// Reads one 8-byte feature report.
  public func getFeature() throws(VirtualHIDError) -> [UInt8] {
    let payload = try request(VirtualHIDMessage(.getFeature))
    guard payload.count == 8 else {
      throw .wrongPayload(kind: "FEATURE", expected: "8 bytes", actual: payload.count)
    }
    return payload
  }

  /// Writes an output report (keyboard LEDs).
  public func output(_ report: [UInt8]) throws(VirtualHIDError) {
    _ = try request(VirtualHIDMessage(.output, payload: report))
  }

  /// Presses the button for `slot` (1 or 2); returns once the keystrokes are queued.
  public func press(slot: Int) throws(VirtualHIDError) {
    _ = try request(VirtualHIDMessage(.press, payload: [UInt8(truncatingIfNeeded: slot)]))
  }

  /// The next keyboard input report, or nil if none arrives within the timeout.
  public func readInput(timeoutMilliseconds: Int32) throws(VirtualHIDError) -> [UInt8]? {
    if !inputs.isEmpty { return inputs.removeFirst() }
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
    while true {
      let now = DispatchTime.now().uptimeNanoseconds
      let left = now >= deadline ? 0 : Int32((deadline - now) / 1_000_000)
      guard let message = try receiveMessage(timeoutMilliseconds: left) else { return nil }
      switch message.kind {
      case .input: return message.payload
      case .error: throw .tokenError(String(decoding: message.payload, as: UTF8.self))
      default: throw .unexpectedAnswer("\(message.kind) with no request outstanding")
      }
    }
  }

}
