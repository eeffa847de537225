/// The USB/IP protocol of the Linux kernel (Documentation/usb/usbip_protocol.rst) as a pure codec:
/// the messages a client (`usbip list`, `usbip attach`, the kernel's vhci-hcd) sends a server that
/// exports USB devices, and the server's answers. Every number is big-endian on the wire, except a
/// control transfer's 8-byte setup packet, which is USB's own (little-endian).
public enum USBIP {
  /// The protocol version every message of the first stage carries.
  public static let version: UInt16 = 0x0111

  /// A device as the first stage describes it: OP_REP_DEVLIST and OP_REP_IMPORT.
  public struct Device: Sendable, Equatable {
    public var path: String
    public var busID: String
    public var busNumber: UInt32
    public var deviceNumber: UInt32
    /// 1 low, 2 full, 3 high speed.
    public var speed: UInt32
    public var vendorID: UInt16
    public var productID: UInt16
    public var bcdDevice: UInt16
    public var deviceClass: UInt8
    public var deviceSubClass: UInt8
    public var deviceProtocol: UInt8
    public var configurationValue: UInt8
    public var configurationCount: UInt8
    /// Class, subclass and protocol of each interface.
    public var interfaces: [(UInt8, UInt8, UInt8)]

    public init(
      path: String, busID: String, busNumber: UInt32, deviceNumber: UInt32, speed: UInt32, vendorID: UInt16,
      productID: UInt16, bcdDevice: UInt16, deviceClass: UInt8 = 0, deviceSubClass: UInt8 = 0,
      deviceProtocol: UInt8 = 0, configurationValue: UInt8 = 1, configurationCount: UInt8 = 1,
      interfaces: [(UInt8, UInt8, UInt8)]
    ) {
      self.path = path
      self.busID = busID
      self.busNumber = busNumber
      self.deviceNumber = deviceNumber
      self.speed = speed
      self.vendorID = vendorID
      self.productID = productID
      self.bcdDevice = bcdDevice
      self.deviceClass = deviceClass
      self.deviceSubClass = deviceSubClass
      self.deviceProtocol = deviceProtocol
      self.configurationValue = configurationValue
      self.configurationCount = configurationCount
      self.interfaces = interfaces
    }

    public static func == (a: Device, b: Device) -> Bool {
      a.encoded(withInterfaces: true) == b.encoded(withInterfaces: true)
    }

    /// 312 bytes, then (for the device list) 4 per interface.
    func encoded(withInterfaces: Bool) -> [UInt8] {
      var bytes = Wire.fixed(path, 256) + Wire.fixed(busID, 32)
      bytes += Wire.be32(busNumber) + Wire.be32(deviceNumber) + Wire.be32(speed)
      bytes += Wire.be16(vendorID) + Wire.be16(productID) + Wire.be16(bcdDevice)
      bytes += [
        deviceClass, deviceSubClass, deviceProtocol, configurationValue, configurationCount,
        UInt8(interfaces.count),
      ]
      if withInterfaces { for (a, b, c) in interfaces { bytes += [a, b, c, 0] } }
      return bytes
    }

    /// The device ID the second stage's headers carry: bus number and device number.
    public var deviceID: UInt32 { busNumber << 16 | deviceNumber }
  }

  /// A message from the client.
  public enum Request: Sendable, Equatable {
    /// OP_REQ_DEVLIST: which devices are exported.
    case listDevices
    /// OP_REQ_IMPORT: attach the device with this bus ID.
    case importDevice(busID: String)
    /// USBIP_CMD_SUBMIT: a transfer. `setup` is the control request on endpoint 0; `data` what an
    /// OUT transfer carries; `length` the buffer the client offers (what an IN transfer may fill).
    case submit(Submit)
    /// USBIP_CMD_UNLINK: cancel the transfer `victim` if it is still pending.
    case unlink(sequence: UInt32, deviceID: UInt32, victim: UInt32)
  }

  public struct Submit: Sendable, Equatable {
    public var sequence: UInt32
    public var deviceID: UInt32
    /// true: device to host.
    public var directionIn: Bool
    public var endpoint: UInt32
    public var transferFlags: UInt32
    public var length: Int
    public var interval: Int32
    public var setup: [UInt8]
    public var data: [UInt8]

    public init(
      sequence: UInt32, deviceID: UInt32, directionIn: Bool, endpoint: UInt32, transferFlags: UInt32 = 0,
      length: Int, interval: Int32 = 0, setup: [UInt8] = [UInt8](repeating: 0, count: 8), data: [UInt8] = []
    ) {
      self.sequence = sequence
      self.deviceID = deviceID
      self.directionIn = directionIn
      self.endpoint = endpoint
      self.transferFlags = transferFlags
      self.length = length
      self.interval = interval
      self.setup = setup
      self.data = data
    }
  }

  /// Why a stream was not understood; the connection ends.
  public enum WireError: Error, Equatable, Sendable {
    case unknownCommand(UInt32)
    case unsupportedVersion(UInt16)
    case badLength(String)
    /// Isochronous transfers: no HID device has them.
    case isochronous
  }

  /// The largest transfer a client may announce (a HID device moves 64 bytes at most).
  public static let maximumTransfer = 4096
}

/// Big-endian numbers and fixed-size strings.
enum Wire {
  static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
  static func be32(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }
  static func fixed(_ text: String, _ size: Int) -> [UInt8] {
    let bytes = Array(text.utf8.prefix(size - 1))
    return bytes + [UInt8](repeating: 0, count: size - bytes.count)
  }
  static func u16(_ bytes: ArraySlice<UInt8>, _ at: Int) -> UInt16 {
    UInt16(bytes[bytes.startIndex + at]) << 8 | UInt16(bytes[bytes.startIndex + at + 1])
  }
  static func u32(_ bytes: ArraySlice<UInt8>, _ at: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[bytes.startIndex + at + $1]) }
  }
  static func string(_ bytes: ArraySlice<UInt8>) -> String {
    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
  }
}
