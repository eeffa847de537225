import OTPWire

/// Which back-end reaches a device.
public enum DeviceKind: String, Sendable, Codable, Hashable {
  /// A real token through hidapi (/dev/hidraw*).
  case hidraw
  /// A simulated token in another process, through its Unix socket.
  case socket
  /// A simulated token in this process.
  case inProcess = "in-process"
}

/// A device as enumeration finds it, before it is opened.
public struct DeviceDescription: Sendable, Hashable, Codable {
  public var kind: DeviceKind
  /// The hidraw path, the socket path, or an in-process name.
  public var path: String
  public var vendorID: UInt16
  public var productID: UInt16
  /// bcdDevice (firmware 5.4.3 is 0x0543) where the back-end reports it.
  public var release: UInt16
  public var usagePage: UInt16
  public var usage: UInt16
  /// The USB serial-number string, if the device shows one.
  public var serialString: String?
  public var manufacturer: String
  public var product: String

  public init(
    kind: DeviceKind, path: String, vendorID: UInt16, productID: UInt16, release: UInt16,
    usagePage: UInt16, usage: UInt16, serialString: String?, manufacturer: String, product: String
  ) {
    self.kind = kind
    self.path = path
    self.vendorID = vendorID
    self.productID = productID
    self.release = release
    self.usagePage = usagePage
    self.usage = usage
    self.serialString = serialString
    self.manufacturer = manufacturer
    self.product = product
  }

  /// Whether this is the OTP (keyboard) interface of a token: usage page 0x01, usage 0x06.
  public var isOTPInterface: Bool {
    usagePage == OTPInterface.usagePage && usage == OTPInterface.usage
  }

  /// "1050:0407".
  public var vidPid: String {
    [UInt8(vendorID >> 8), UInt8(vendorID & 0xFF)].hexString() + ":"
      + [UInt8(productID >> 8), UInt8(productID & 0xFF)].hexString()
  }
}

/// Why a transport call failed. Device outcomes (a refused command) are the driver's business;
/// these are the host-side failures, with the back-end's own text kept.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The device is gone (unplugged, the simulator stopped).
  case disconnected(String)
  /// The current user may not open the device.
  case permissionDenied(path: String, detail: String)
  /// Another program holds the device.
  case busy(path: String, detail: String)
  /// The device does not exist (any more).
  case notFound(String)
  /// A report of the wrong size came back.
  case badReport(String)
  /// Anything else the back-end reported.
  case io(String)

  public var description: String {
    switch self {
    case .disconnected(let detail): return "the token was disconnected (\(detail))"
    case .permissionDenied(let path, let detail): return "permission denied on \(path) (\(detail))"
    case .busy(let path, let detail): return "\(path) is busy (\(detail))"
    case .notFound(let path): return "no device at \(path)"
    case .badReport(let detail): return "bad report from the token: \(detail)"
    case .io(let detail): return detail
    }
  }
}

/// An open HID device: feature reports both ways, input reports in, output reports out.
/// One user at a time; not thread-safe.
public protocol HIDDevice: AnyObject {
  var description: DeviceDescription { get }
  /// SET_REPORT of the 8-byte feature report (report ID 0).
  func setFeatureReport(_ report: FeatureReport) throws(TransportError)
  /// GET_REPORT of the 8-byte feature report.
  func getFeatureReport() throws(TransportError) -> FeatureReport
  /// The next keyboard input report, nil if none arrives within the timeout.
  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport?
  /// An output report (keyboard LEDs).
  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError)
  /// Closes the device; further calls fail.
  func close()
}

/// A way to find and open devices.
public protocol DeviceBackend: Sendable {
  var kind: DeviceKind { get }
  /// The OTP-interface devices this back-end can see now.
  func enumerate() throws(TransportError) -> [DeviceDescription]
  /// Opens one of them.
  func open(_ description: DeviceDescription) throws(TransportError) -> any HIDDevice
}
