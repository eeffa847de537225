/// A firmware version, major.minor.build.
public struct FirmwareVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
  public var major: UInt8
  public var minor: UInt8
  public var build: UInt8
  public init(_ major: UInt8, _ minor: UInt8, _ build: UInt8) {
    self.major = major
    self.minor = minor
    self.build = build
  }
  /// The version from "5.4.3".
  public init?(_ text: String) {
    let parts = text.split(separator: ".").compactMap { UInt8($0) }
    guard parts.count == 3 else { return nil }
    self.init(parts[0], parts[1], parts[2])
  }
  public static func < (a: Self, b: Self) -> Bool {
    (a.major, a.minor, a.build) < (b.major, b.minor, b.build)
  }
  public var description: String { "\(major).\(minor).\(build)" }
}

/// The touchLevel bits of the status report that say which slots are programmed.
public struct ConfigState: OptionSet, Sendable, Hashable {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let slot1Valid = ConfigState(rawValue: 0x01)
  public static let slot2Valid = ConfigState(rawValue: 0x02)
  public static let slot1Touch = ConfigState(rawValue: 0x04)
  public static let slot2Touch = ConfigState(rawValue: 0x08)
  public static let ledInverted = ConfigState(rawValue: 0x10)
  /// The bits that carry configuration state; the others hold an analog touch level.
  public static let mask: UInt16 = 0x1F

  /// Whether a slot holds a configuration.
  public func isValid(_ slot: Slot) -> Bool { contains(slot == .one ? .slot1Valid : .slot2Valid) }
  /// Whether a slot is triggered by a touch (not challenge-response).
  public func isTouchTriggered(_ slot: Slot) -> Bool {
    contains(slot == .one ? .slot1Touch : .slot2Touch)
  }
}

/// The status report a token answers an idle GET_REPORT with:
/// `[0, major, minor, build, pgmSeq, touchLevel (LE u16), flags]`.
public struct StatusReport: Sendable, Hashable {
  public var version: FirmwareVersion
  /// The programming sequence number: +1 on every accepted change, 0 when no slot is programmed.
  public var programmingSequence: UInt8
  /// Which slots are programmed (the touch-level bits above the mask are dropped).
  public var configState: ConfigState
  /// The flag byte.
  public var flags: ReportFlags

  public init(
    version: FirmwareVersion, programmingSequence: UInt8, configState: ConfigState,
    flags: ReportFlags = []
  ) {
    self.version = version
    self.programmingSequence = programmingSequence
    self.configState = configState
    self.flags = flags
  }

  /// Decodes a status report; the upper touch-level bits are masked away as hosts do.
  public init(_ report: FeatureReport) {
    let b = report.bytes
    version = FirmwareVersion(b[1], b[2], b[3])
    programmingSequence = b[4]
    configState = ConfigState(rawValue: (UInt16(b[5]) | UInt16(b[6]) << 8) & ConfigState.mask)
    flags = report.flags
  }

  /// The 8-byte report.
  public var report: FeatureReport {
    let level = configState.rawValue
    return FeatureReport(
      data: [
        0, version.major, version.minor, version.build, programmingSequence,
        UInt8(level & 0xFF), UInt8(level >> 8),
      ], flags: flags.rawValue)
  }
}
