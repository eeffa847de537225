import OTPWire

/// The OTP HID codec as a host or token meets bytes from the other side: feature reports,
/// frames and their reassembly, status and response reports, slot configurations, device
/// information, keyboard reports, modhex.
func fuzzWire(_ bytes: [UInt8]) {
  var assembler = FrameAssembler()
  var responses = ResponseAssembler()
  var keyboard = KeyboardDecoder()
  for start in stride(from: 0, to: bytes.count - bytes.count % 8, by: 8) {
    guard let report = try? FeatureReport(bytes: Array(bytes[start..<start + 8])) else { continue }
    if case .frame(let frame) = assembler.feed(report) {
      _ = frame.hasValidCRC
      _ = try? SlotConfiguration(bytes: frame.payload.prefix(SlotConfiguration.size))
    }
    _ = StatusReport(report)
    if report.flags.contains(.responsePending), let raw = try? responses.feed(report) {
      _ = try? ResponseAssembler.data(from: raw, length: 4)
      _ = try? DeviceInfo(pageBytes: raw)
    }
    if let keys = try? KeyboardReport(bytes: report.bytes) { try? keyboard.feed(keys) }
  }
  if bytes.count >= Frame.size { _ = try? Frame(bytes: Array(bytes.prefix(Frame.size))) }
  _ = try? SlotConfiguration(bytes: bytes)
  _ = try? DeviceInfo(pageBytes: bytes)
  _ = try? SerialNumber.decode(bytes)
  _ = Modhex.decode(String(decoding: bytes, as: UTF8.self))
}
