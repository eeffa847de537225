/// Reads client messages out of a TCP stream that arrives in pieces of any size: bytes go in,
/// whole requests come out, and a malformed one is an error that ends the connection.
public struct USBIPRequestReader: Sendable {
  private var buffer: [UInt8] = []
  /// Before an import: the first stage's messages; after: the second stage's.
  public var imported = false

  public init() {}

  public mutating func feed(_ bytes: some Sequence<UInt8>) { buffer += bytes }

  /// The next whole request, or nil until more bytes arrive.
  public mutating func next() throws(USBIP.WireError) -> USBIP.Request? {
    imported ? try nextCommand() : try nextOperation()
  }

  mutating func nextOperation() throws(USBIP.WireError) -> USBIP.Request? {
    guard buffer.count >= 8 else { return nil }
    let head = buffer[0..<8]
    let version = Wire.u16(head, 0)
    guard version == USBIP.version else { throw .unsupportedVersion(version) }
    switch Wire.u16(head, 2) {
    case 0x8005:
      buffer.removeFirst(8)
      return .listDevices
    case 0x8003:
      guard buffer.count >= 40 else { return nil }
      let busID = Wire.string(buffer[8..<40])
      buffer.removeFirst(40)
      return .importDevice(busID: busID)
    case let code: throw .unknownCommand(UInt32(code))
    }
  }

  mutating func nextCommand() throws(USBIP.WireError) -> USBIP.Request? {
    guard buffer.count >= 48 else { return nil }
    let head = buffer[0..<48]
    let (command, sequence, deviceID) = (Wire.u32(head, 0), Wire.u32(head, 4), Wire.u32(head, 8))
    let directionIn = Wire.u32(head, 12) == 1
    let endpoint = Wire.u32(head, 16)
    switch command {
    case 1:
      let length = Int(Int32(bitPattern: Wire.u32(head, 24)))
      let packets = Wire.u32(head, 32)
      guard packets == 0 || packets == 0xFFFF_FFFF else { throw .isochronous }
      guard (0...USBIP.maximumTransfer).contains(length), endpoint < 16 else {
        throw .badLength("a transfer of \(length) bytes on endpoint \(endpoint)")
      }
      let carried = directionIn ? 0 : length
      guard buffer.count >= 48 + carried else { return nil }
      let submit = USBIP.Submit(
        sequence: sequence, deviceID: deviceID, directionIn: directionIn, endpoint: endpoint,
        transferFlags: Wire.u32(head, 20), length: length, interval: Int32(bitPattern: Wire.u32(head, 36)),
        setup: Array(head[40..<48]), data: Array(buffer[48..<(48 + carried)]))
      buffer.removeFirst(48 + carried)
      return .submit(submit)
    case 2:
      let victim = Wire.u32(head, 20)
      buffer.removeFirst(48)
      return .unlink(sequence: sequence, deviceID: deviceID, victim: victim)
    default: throw .unknownCommand(command)
    }
  }
}

/// The server's answers, as bytes for the stream.
public enum USBIPReply {
  /// OP_REP_DEVLIST with `devices` (and their interfaces).
  public static func deviceList(_ devices: [USBIP.Device]) -> [UInt8] {
    var bytes = Wire.be16(USBIP.version) + Wire.be16(0x0005) + Wire.be32(0) + Wire.be32(UInt32(devices.count))
    for device in devices { bytes += device.encoded(withInterfaces: true) }
    return bytes
  }

  /// OP_REP_IMPORT: the device, or (nil) a refusal.
  public static func imported(_ device: USBIP.Device?) -> [UInt8] {
    guard let device else { return Wire.be16(USBIP.version) + Wire.be16(0x0003) + Wire.be32(1) }
    return Wire.be16(USBIP.version) + Wire.be16(0x0003) + Wire.be32(0) + device.encoded(withInterfaces: false)
  }

  /// USBIP_RET_SUBMIT: `status` 0 or a negative errno; `data` for an IN transfer.
  public static func submitted(_ submit: USBIP.Submit, status: Int32, data: [UInt8]) -> [UInt8] {
    let inData = submit.directionIn ? data : []
    let actual = submit.directionIn ? UInt32(inData.count) : UInt32(status == 0 ? submit.data.count : 0)
    var bytes = Wire.be32(3) + Wire.be32(submit.sequence) + Wire.be32(0) + Wire.be32(0) + Wire.be32(0)
    bytes += Wire.be32(UInt32(bitPattern: status)) + Wire.be32(actual) + Wire.be32(0) + Wire.be32(0)
    bytes += Wire.be32(0) + [UInt8](repeating: 0, count: 8)
    return bytes + inData
  }

  /// USBIP_RET_UNLINK: `status` -ECONNRESET (-104) when the transfer was cancelled, 0 when it had
  /// completed already.
  public static func unlinked(sequence: UInt32, status: Int32) -> [UInt8] {
    Wire.be32(4) + Wire.be32(sequence) + Wire.be32(0) + Wire.be32(0) + Wire.be32(0)
      + Wire.be32(UInt32(bitPattern: status)) + [UInt8](repeating: 0, count: 24)
  }
}
