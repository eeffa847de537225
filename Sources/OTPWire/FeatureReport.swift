/// The flag byte (byte 7) of an 8-byte feature report.
public struct ReportFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// Set by the host on written reports; shown by the token until it has consumed the write.
  public static let writePending = ReportFlags(rawValue: 0x80)
  /// The report carries 7 bytes of response data.
  public static let responsePending = ReportFlags(rawValue: 0x40)
  /// The token waits for a touch; the low 5 bits are the seconds left.
  public static let touchWait = ReportFlags(rawValue: 0x20)

  /// Mask of the sequence (slice) number in the low bits.
  public static let sequenceMask: UInt8 = 0x1F
  /// The reset report value ykpers and .NET write ("force update or abort").
  public static let resetYkpers: UInt8 = 0x8F
  /// The reset report value yubikit writes.
  public static let resetYubikit: UInt8 = 0xFF
  /// A NEO shows this while starting up; writes are blocked.
  public static let neoStartupBusy: UInt8 = 0x9F

  /// The sequence or slice number carried in the low bits.
  public var sequence: Int { Int(rawValue & Self.sequenceMask) }
}

/// One 8-byte HID feature report of the OTP interface (report ID 0, which is not part of it):
/// 7 data bytes and the flag byte.
public struct FeatureReport: Sendable, Hashable, CustomStringConvertible {
  /// Size of a feature report in bytes.
  public static let size = 8

  /// The 8 bytes, data first and the flag byte last.
  public let bytes: [UInt8]

  /// A report from exactly 8 bytes; anything else is refused.
  public init(bytes: [UInt8]) throws(WireError) {
    guard bytes.count == Self.size else {
      throw .wrongLength(field: "feature report", expected: Self.size, actual: bytes.count)
    }
    self.bytes = bytes
  }

  /// A report from 7 data bytes and a flag byte.
  public init(data: some Collection<UInt8>, flags: UInt8) {
    precondition(data.count == 7, "a feature report carries 7 data bytes")
    self.bytes = Array(data) + [flags]
  }

  /// The 7 data bytes.
  public var data: ArraySlice<UInt8> { bytes[0..<7] }
  /// The raw flag byte.
  public var flagByte: UInt8 { bytes[7] }
  /// The flag byte as flags.
  public var flags: ReportFlags { ReportFlags(rawValue: bytes[7]) }

  /// A host reset report (7 zero bytes and `flag`, 0x8F or 0xFF).
  public static func reset(_ flag: UInt8 = ReportFlags.resetYkpers) -> FeatureReport {
    FeatureReport(data: [UInt8](repeating: 0, count: 7), flags: flag)
  }

  /// Whether this written report is a reset (write flag set, sequence number 10 or more).
  public var isReset: Bool { flagByte & 0x80 != 0 && Int(flagByte & 0x7F) >= Frame.reportCount }

  public var description: String { bytes.hexString(separator: " ") }
}

extension Sequence where Element == UInt8 {
  /// Lower-case hex, optionally with a separator between bytes.
  public func hexString(separator: String = "") -> String {
    map { byte in
      let digits = Array("0123456789abcdef")
      return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }.joined(separator: separator)
  }
}

extension Array where Element == UInt8 {
  /// Bytes from hex text (white space allowed between digit pairs); nil if it is not hex.
  public init?(hex: String) {
    let digits = hex.filter { !$0.isWhitespace }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = digits.startIndex
    while index < digits.endIndex {
      let next = digits.index(index, offsetBy: 2)
      guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
      out.append(byte)
      index = next
    }
    self = out
  }
}
