/// A command code, carried in the "slot" byte (offset 64) of a frame. An open set: a token must be
/// able to receive codes it does not know and refuse them.
public struct Command: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let configure1 = Command(rawValue: 0x01)
  public static let configure2 = Command(rawValue: 0x03)
  public static let update1 = Command(rawValue: 0x04)
  public static let update2 = Command(rawValue: 0x05)
  public static let swap = Command(rawValue: 0x06)
  public static let ndef1 = Command(rawValue: 0x08)
  public static let ndef2 = Command(rawValue: 0x09)
  public static let deviceSerial = Command(rawValue: 0x10)
  public static let deviceConfig = Command(rawValue: 0x11)
  public static let scanMap = Command(rawValue: 0x12)
  public static let deviceInfo = Command(rawValue: 0x13)
  public static let challengeOTP1 = Command(rawValue: 0x20)
  public static let challengeOTP2 = Command(rawValue: 0x28)
  public static let challengeHMAC1 = Command(rawValue: 0x30)
  public static let challengeHMAC2 = Command(rawValue: 0x38)

  /// The configure command for a slot.
  public static func configure(_ slot: Slot) -> Command { slot == .one ? .configure1 : .configure2 }
  /// The update command for a slot.
  public static func update(_ slot: Slot) -> Command { slot == .one ? .update1 : .update2 }
  /// The HMAC-SHA1 challenge-response command for a slot.
  public static func challengeHMAC(_ slot: Slot) -> Command {
    slot == .one ? .challengeHMAC1 : .challengeHMAC2
  }

  public var description: String { "0x" + [rawValue].hexString() }
}

/// One of the token's two configuration slots (short press and long press).
public enum Slot: Int, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
  case one = 1
  case two = 2

  /// The slot number from 1 or 2.
  public init(number: Int) throws(WireError) {
    guard let slot = Slot(rawValue: number) else {
      throw .outOfRange(field: "slot", detail: "\(number); a token has slots 1 and 2")
    }
    self = slot
  }

  /// The other slot.
  public var other: Slot { self == .one ? .two : .one }

  public var description: String { String(rawValue) }
}
