import OTPWire
import TokenSimulator
import TokenSimulatorUSBIP
import USBIPWire

/// A USB/IP client's stream (the kernel's vhci-hcd, or anyone who reaches the port) against the
/// simulated token's session: the first byte's low bit says whether the stream starts after an
/// import of bus 1-1; then each piece of the stream is a byte giving its size, then the piece.
/// Control transfers reach the firmware, so every setup packet and feature report is fuzzed too.
func fuzzUSBIP(_ bytes: [UInt8]) {
  guard let first = bytes.first, let token = try? SimulatedToken(serial: 12_345_678) else { return }
  var session = USBIPSession(token: token)
  if first & 1 == 1 {
    let importing =
      [0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0] + Array("1-1".utf8) + [UInt8](repeating: 0, count: 29)
    guard (try? session.receive(importing))?.event == .attached else { fatalError("the import was refused") }
  }
  var rest = bytes.dropFirst()
  while !rest.isEmpty {
    let size = Int(rest.removeFirst()) % 64 + 1
    let piece = Array(rest.prefix(size))
    rest = rest.dropFirst(size)
    guard let (replies, _) = try? session.receive(piece) else { return }
    for reply in replies {
      // Every answer is a whole message of a known kind; data never exceeds a HID transfer.
      guard reply.count >= 8,
        reply.starts(with: [0x01, 0x11]) || (reply.count >= 48 && reply.count <= 48 + 4096)
      else { fatalError("a malformed reply of \(reply.count) bytes") }
    }
    if session.waiting.count > USBIPSession.maximumWaiting { fatalError("unbounded waiting transfers") }
  }
  // A press after whatever came before delivers to the waiting transfers, never more than typed.
  let typed = token.press(.two)
  if session.type(typed).count > typed.count { fatalError("more deliveries than reports") }
}
