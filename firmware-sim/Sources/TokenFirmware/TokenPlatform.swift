import OTPWire

/// What the firmware needs from the device it runs on. The firmware never touches hardware, files
/// or clocks itself; a host build (the simulator) and tests supply their own platform.
public protocol TokenPlatform: AnyObject {
  /// Milliseconds on a monotonic clock (touch timeouts).
  func uptimeMilliseconds() -> UInt64
  /// Writes the whole non-volatile state and returns only once it is durable. Throwing means the
  /// write did not happen (for example the power was cut): the firmware then changes nothing and
  /// types nothing.
  func persist(_ state: NonVolatileState) throws
  /// Sends keyboard input reports to the host, in order.
  func type(_ reports: [KeyboardReport])
}

/// How the token presents itself on USB and in its status report.
public struct TokenIdentity: Sendable, Hashable, Codable {
  public var vendorID: UInt16
  public var productID: UInt16
  public var version: FirmwareVersion
  public var manufacturer: String
  public var product: String

  public init(
    vendorID: UInt16, productID: UInt16, version: FirmwareVersion, manufacturer: String, product: String
  ) {
    self.vendorID = vendorID
    self.productID = productID
    self.version = version
    self.manufacturer = manufacturer
    self.product = product
  }

  /// A YubiKey 5 OTP+FIDO+CCID with firmware 5.4.3, the default the simulator presents.
  public static let yubiKey5 = TokenIdentity(
    vendorID: OTPInterface.yubicoVendorID, productID: OTPInterface.yubiKey5ProductID,
    version: FirmwareVersion(5, 4, 3), manufacturer: "Yubico", product: "YubiKey OTP+FIDO+CCID")

  /// The USB bcdDevice value: 5.4.3 is 0x0543.
  public var releaseBCD: UInt16 {
    UInt16(version.major) << 8 | UInt16(min(version.minor, 9)) << 4 | UInt16(min(version.build, 9))
  }
}
