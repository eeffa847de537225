import CHIDAPI
import Foundation
import OTPWire
import TokenTransport

#if canImport(Glibc)
  import Glibc
#endif

/// Real tokens through hidapi's hidraw back-end (never its libusb back-end, which would detach the
/// kernel keyboard driver and stop the token typing). The only module that calls hidapi.
public struct HIDAPIBackend: DeviceBackend {
  public let kind = DeviceKind.hidraw
  /// Vendor/product pairs accepted besides Yubico's OTP products, as "vvvv:pppp" configured by users.
  public let extraProducts: [(vendor: UInt16, product: UInt16)]

  public init(extraProducts: [(vendor: UInt16, product: UInt16)] = []) {
    self.extraProducts = extraProducts
  }

  private static let initialised: Bool = hid_init() == 0

  /// The hidapi library version, e.g. "0.13.1".
  public static var libraryVersion: String {
    guard let version = hid_version_str() else { return "unknown" }
    return String(cString: version)
  }

  public func accepts(vendor: UInt16, product: UInt16) -> Bool {
    (vendor == OTPInterface.yubicoVendorID && OTPInterface.otpProductIDs.contains(product))
      || extraProducts.contains { $0.vendor == vendor && $0.product == product }
  }

  /// Every OTP interface (usage page 0x01, usage 0x06) of an accepted vendor/product. With no
  /// token attached this is an empty list, not an error.
  public func enumerate() throws(TransportError) -> [DeviceDescription] {
    guard Self.initialised else { throw .io("hidapi could not be initialised") }
    guard let list = hid_enumerate(0, 0) else { return [] }
    defer { hid_free_enumeration(list) }
    var found: [DeviceDescription] = []
    var node: UnsafeMutablePointer<hid_device_info>? = list
    while let info = node?.pointee {
      node = info.next
      guard accepts(vendor: info.vendor_id, product: info.product_id) else { continue }
      let description = DeviceDescription(
        kind: .hidraw, path: info.path.map { String(cString: $0) } ?? "",
        vendorID: info.vendor_id, productID: info.product_id, release: info.release_number,
        usagePage: info.usage_page, usage: info.usage, serialString: Self.string(info.serial_number),
        manufacturer: Self.string(info.manufacturer_string) ?? "",
        product: Self.string(info.product_string) ?? "")
      if description.isOTPInterface { found.append(description) }
    }
    return found
  }

  public func open(_ description: DeviceDescription) throws(TransportError) -> any HIDDevice {
    guard Self.initialised else { throw .io("hidapi could not be initialised") }
    // Tell "no permission" and "gone" apart before hidapi folds them into one NULL.
    if access(description.path, F_OK) != 0 { throw .notFound(description.path) }
    if access(description.path, R_OK | W_OK) != 0 {
      throw .permissionDenied(path: description.path, detail: String(cString: strerror(errno)))
    }
    guard let device = hid_open_path(description.path) else {
      let detail = Self.string(hid_error(nil)) ?? "hid_open_path failed"
      if errno == EBUSY { throw .busy(path: description.path, detail: detail) }
      throw .io("cannot open \(description.path): \(detail)")
    }
    return HIDAPIDevice(device: device, description: description)
  }

  /// A wide C string as Swift text.
  static func string(_ wide: UnsafePointer<wchar_t>?) -> String? {
    guard let wide else { return nil }
    var scalars = String.UnicodeScalarView()
    var index = 0
    while wide[index] != 0 {
      if let scalar = Unicode.Scalar(UInt32(bitPattern: Int32(wide[index]))) { scalars.append(scalar) }
      index += 1
    }
    return String(scalars)
  }
}

/// One open hidraw device.
final class HIDAPIDevice: HIDDevice {
  private var device: OpaquePointer?
  let description: DeviceDescription

  init(device: OpaquePointer, description: DeviceDescription) {
    self.device = device
    self.description = description
  }

  deinit { close() }

  private func open() throws(TransportError) -> OpaquePointer {
    guard let device else { throw .disconnected("the device was closed") }
    return device
  }

  /// hidapi's text for the last error, mapped: a vanished device is a disconnect.
  private func failure(_ what: String) -> TransportError {
    let detail = HIDAPIBackend.string(hid_error(device)) ?? "unknown error"
    if access(description.path, F_OK) != 0 || errno == ENODEV || errno == EPIPE {
      return .disconnected("\(what) on \(description.path): \(detail)")
    }
    return .io("\(what) on \(description.path): \(detail)")
  }

  func setFeatureReport(_ report: FeatureReport) throws(TransportError) {
    let device = try open()
    let buffer = [0] + report.bytes  // report ID 0 first
    let result = buffer.withUnsafeBufferPointer { hid_send_feature_report(device, $0.baseAddress, $0.count) }
    guard result >= 0 else { throw failure("SET_REPORT") }
  }

  func getFeatureReport() throws(TransportError) -> FeatureReport {
    let device = try open()
    var buffer = [UInt8](repeating: 0, count: 9)
    let count = buffer.withUnsafeMutableBufferPointer {
      hid_get_feature_report(device, $0.baseAddress, $0.count)
    }
    guard count >= 0 else { throw failure("GET_REPORT") }
    // hidraw returns the report ID byte first for unnumbered reports.
    let data = count == 9 ? Array(buffer[1..<9]) : Array(buffer[0..<min(Int(count), 8)])
    do { return try FeatureReport(bytes: data) } catch { throw .badReport("\(count) bytes from GET_REPORT") }
  }

  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport? {
    let device = try open()
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = buffer.withUnsafeMutableBufferPointer {
      hid_read_timeout(device, $0.baseAddress, $0.count, Int32(clamping: timeoutMilliseconds))
    }
    guard count >= 0 else { throw failure("reading input") }
    guard count > 0 else { return nil }
    do { return try KeyboardReport(bytes: Array(buffer[0..<8])) } catch {
      throw .badReport("short input report")
    }
  }

  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError) {
    let device = try open()
    let buffer = [0] + bytes
    let result = buffer.withUnsafeBufferPointer { hid_write(device, $0.baseAddress, $0.count) }
    guard result >= 0 else { throw failure("writing output") }
  }

  func close() {
    if let device { hid_close(device) }
    device = nil
  }
}
