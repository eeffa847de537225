/// USB capabilities in device information (a bit set).
public struct Capabilities: OptionSet, Sendable, Hashable {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  public static let otp = Capabilities(rawValue: 0x001)
  public static let u2f = Capabilities(rawValue: 0x002)
  public static let openPGP = Capabilities(rawValue: 0x008)
  public static let piv = Capabilities(rawValue: 0x010)
  public static let oath = Capabilities(rawValue: 0x020)
  public static let hsmAuth = Capabilities(rawValue: 0x100)
  public static let fido2 = Capabilities(rawValue: 0x200)
}

/// The device information the token answers command 0x13 with (one page of TLVs).
///
/// Page bytes: a length byte L, then L bytes of tag(1) length(1) value TLVs; the response adds the
/// complemented CRC over the L+1 bytes.
public struct DeviceInfo: Sendable, Hashable {
  public enum Tag: UInt8 {
    case supportedCapabilities = 0x01, serial = 0x02, enabledCapabilities = 0x03
    case formFactor = 0x04, version = 0x05, autoEjectTimeout = 0x06
    case challengeResponseTimeout = 0x07, deviceFlags = 0x08, configLock = 0x0A, moreData = 0x10
  }

  public var serial: UInt32?
  public var version: FirmwareVersion?
  public var formFactor: UInt8?
  public var supportedCapabilities: Capabilities
  public var enabledCapabilities: Capabilities
  /// Every TLV of the page by tag, including those without a typed field above.
  public var fields: [UInt8: [UInt8]]

  public init(
    serial: UInt32?, version: FirmwareVersion?, formFactor: UInt8?,
    supportedCapabilities: Capabilities, enabledCapabilities: Capabilities
  ) {
    self.serial = serial
    self.version = version
    self.formFactor = formFactor
    self.supportedCapabilities = supportedCapabilities
    self.enabledCapabilities = enabledCapabilities
    fields = [:]
  }

  /// The page bytes (length byte and TLVs), in the order a YubiKey 5 sends them.
  public var pageBytes: [UInt8] {
    func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    var tlvs: [UInt8] = []
    tlvs += [Tag.supportedCapabilities.rawValue, 2] + u16(supportedCapabilities.rawValue)
    if let serial {
      tlvs += [Tag.serial.rawValue, 4]
      tlvs += [
        UInt8(serial >> 24), UInt8(serial >> 16 & 0xFF), UInt8(serial >> 8 & 0xFF), UInt8(serial & 0xFF),
      ]
    }
    tlvs += [Tag.enabledCapabilities.rawValue, 2] + u16(enabledCapabilities.rawValue)
    if let formFactor { tlvs += [Tag.formFactor.rawValue, 1, formFactor] }
    if let version { tlvs += [Tag.version.rawValue, 3, version.major, version.minor, version.build] }
    return [UInt8(tlvs.count)] + tlvs
  }

  /// Decodes the data of a device-information response (length byte and TLVs).
  public init(pageBytes: [UInt8]) throws(WireError) {
    guard let length = pageBytes.first, pageBytes.count >= Int(length) + 1 else {
      throw .malformedResponse("device information shorter than its length byte")
    }
    var fields: [UInt8: [UInt8]] = [:]
    var index = 1
    let end = 1 + Int(length)
    while index < end {
      guard index + 2 <= end else { throw .malformedResponse("truncated TLV header") }
      let tag = pageBytes[index]
      let size = Int(pageBytes[index + 1])
      guard index + 2 + size <= end else { throw .malformedResponse("TLV 0x\([tag].hexString()) overruns") }
      fields[tag] = Array(pageBytes[(index + 2)..<(index + 2 + size)])
      index += 2 + size
    }
    func number(_ tag: Tag) -> UInt32? {
      fields[tag.rawValue].map { $0.reduce(0) { $0 << 8 | UInt32($1) } }
    }
    serial = number(.serial)
    version = fields[Tag.version.rawValue].flatMap {
      $0.count == 3 ? FirmwareVersion($0[0], $0[1], $0[2]) : nil
    }
    formFactor = fields[Tag.formFactor.rawValue]?.first
    supportedCapabilities = Capabilities(
      rawValue: UInt16(truncatingIfNeeded: number(.supportedCapabilities) ?? 0))
    enabledCapabilities = Capabilities(
      rawValue: UInt16(truncatingIfNeeded: number(.enabledCapabilities) ?? 0))
    self.fields = fields
  }
}

/// The serial number answer of command 0x10: 4 bytes, big-endian.
public enum SerialNumber {
  public static func bytes(_ serial: UInt32) -> [UInt8] {
    [UInt8(serial >> 24), UInt8(serial >> 16 & 0xFF), UInt8(serial >> 8 & 0xFF), UInt8(serial & 0xFF)]
  }
  public static func decode(_ bytes: [UInt8]) throws(WireError) -> UInt32 {
    guard bytes.count == 4 else { throw .wrongLength(field: "serial", expected: 4, actual: bytes.count) }
    return bytes.reduce(0) { $0 << 8 | UInt32($1) }
  }
}
