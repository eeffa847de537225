import OTPWire
import TokenFirmware

/// The USB descriptors of the simulated token: a full-speed YubiKey 5 with the OTP interface only.
///
/// A real YubiKey 5 OTP+FIDO+CCID also has a FIDO HID interface and a CCID interface. The firmware
/// core implements neither, and an interface that enumerates but never answers makes hosts time
/// out or misreport the device, so the configuration holds the one interface that answers: the
/// boot keyboard with the 8-byte feature report, one interrupt IN endpoint (0x81, 8 bytes, 10 ms).
public struct USBDescriptors: Sendable {
  public let identity: TokenIdentity

  public init(identity: TokenIdentity) { self.identity = identity }

  /// String descriptor indexes.
  static let manufacturerIndex: UInt8 = 1
  static let productIndex: UInt8 = 2

  /// The interrupt IN endpoint's address and packet size.
  public static let interruptEndpoint: UInt8 = 0x81
  static let interruptPacketSize: UInt16 = 8

  /// The 18-byte device descriptor: USB 2.0, class defined by the interface, 64-byte control
  /// endpoint, no serial string (a factory YubiKey shows none on USB).
  public var device: [UInt8] {
    [18, 0x01] + le16(0x0200) + [0, 0, 0, 64] + le16(identity.vendorID) + le16(identity.productID)
      + le16(identity.releaseBCD) + [Self.manufacturerIndex, Self.productIndex, 0, 1]
  }

  /// The 9-byte HID class descriptor: HID 1.11, no country, one report descriptor.
  public var hid: [UInt8] {
    [9, 0x21] + le16(0x0111) + [0, 1, 0x22] + le16(UInt16(OTPInterface.reportDescriptor.count))
  }

  /// The whole configuration: configuration, interface, HID and endpoint descriptors (34 bytes).
  /// Bus-powered, 30 mA, like the real token.
  public var configuration: [UInt8] {
    let interface: [UInt8] = [9, 0x04, 0, 0, 1, 0x03, 0x01, 0x01, 0]  // HID, boot, keyboard
    let endpoint: [UInt8] =
      [7, 0x05, Self.interruptEndpoint, 0x03] + le16(Self.interruptPacketSize) + [10]
    let body = interface + hid + endpoint
    return [9, 0x02] + le16(UInt16(9 + body.count)) + [1, 1, 0, 0x80, 15] + body
  }

  /// String descriptor `index`: 0 the language list (US English), 1 the manufacturer, 2 the
  /// product; nil for any other.
  public func string(_ index: UInt8) -> [UInt8]? {
    let text: String
    switch index {
    case 0: return [4, 0x03, 0x09, 0x04]
    case Self.manufacturerIndex: text = identity.manufacturer
    case Self.productIndex: text = identity.product
    default: return nil
    }
    let units = Array(text.utf16.prefix(126))
    return [UInt8(2 + 2 * units.count), 0x03] + units.flatMap { le16($0) }
  }
}

func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
