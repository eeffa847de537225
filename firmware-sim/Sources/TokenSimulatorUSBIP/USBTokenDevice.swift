import OTPWire
import TokenSimulator

/// The 8-byte setup packet of a control transfer (little-endian fields, as on USB).
public struct SetupPacket: Sendable, Equatable, CustomStringConvertible {
  public var requestType: UInt8
  public var request: UInt8
  public var value: UInt16
  public var index: UInt16
  public var length: UInt16

  public init(requestType: UInt8, request: UInt8, value: UInt16, index: UInt16, length: UInt16) {
    self.requestType = requestType
    self.request = request
    self.value = value
    self.index = index
    self.length = length
  }

  /// Reads the 8 bytes USB/IP carries in CMD_SUBMIT; nil for any other size.
  public init?(bytes: [UInt8]) {
    guard bytes.count == 8 else { return nil }
    self.init(
      requestType: bytes[0], request: bytes[1], value: UInt16(bytes[3]) << 8 | UInt16(bytes[2]),
      index: UInt16(bytes[5]) << 8 | UInt16(bytes[4]), length: UInt16(bytes[7]) << 8 | UInt16(bytes[6]))
  }

  public var bytes: [UInt8] { [requestType, request] + le16(value) + le16(index) + le16(length) }

  /// Device to host.
  public var directionIn: Bool { requestType & 0x80 != 0 }

  public var description: String {
    let hex = { (v: UInt16) in String(v, radix: 16) }
    return
      "setup \(hex(UInt16(requestType)))/\(hex(UInt16(request))) value \(hex(value)) index \(index) length \(length)"
  }
}

/// The token as a USB device: the control requests hosts send on endpoint 0 (enumeration, the HID
/// class requests, the OTP protocol's feature reports) answered over a ``SimulatedToken``.
///
/// Requests outside what a YubiKey's OTP interface supports stall, as a real device's do; nothing
/// a host sends changes the token except a well-formed SET_REPORT of the feature report.
public struct USBTokenDevice: Sendable {
  /// What a control transfer ends with.
  public enum ControlResult: Sendable, Equatable {
    /// Success; for a device-to-host request, the bytes returned (never more than asked for).
    case data([UInt8])
    /// The request is not supported: the host sees -EPIPE.
    case stall
  }

  public let token: SimulatedToken
  public let descriptors: USBDescriptors
  /// The configuration the host selected (0 until SET_CONFIGURATION 1).
  public private(set) var configuration: UInt8 = 0
  /// HID idle rate (SET_IDLE), in units of 4 ms; 0 means report only on change.
  public private(set) var idleRate: UInt8 = 0
  /// HID protocol: 0 boot, 1 report (the default after reset).
  public private(set) var hidProtocol: UInt8 = 1
  /// The keyboard LEDs the host last set (num lock, caps lock, ...).
  public private(set) var leds: UInt8 = 0

  public init(token: SimulatedToken) {
    self.token = token
    descriptors = USBDescriptors(identity: token.identity)
  }

  /// Answers one control transfer; `data` is what a host-to-device request carries.
  public mutating func control(_ setup: SetupPacket, data: [UInt8]) -> ControlResult {
    guard setup.directionIn || data.count == Int(setup.length) else { return .stall }
    let answer: ControlResult
    switch setup.requestType & 0x60 {
    case 0x00: answer = standard(setup)
    case 0x20: answer = hidClass(setup, data: data)
    default: answer = .stall  // vendor requests: the OTP interface has none
    }
    guard case .data(let bytes) = answer else { return answer }
    return .data(setup.directionIn ? Array(bytes.prefix(Int(setup.length))) : [])
  }

  /// Chapter 9's requests, to the device, the interface or the endpoint.
  private mutating func standard(_ setup: SetupPacket) -> ControlResult {
    let recipient = setup.requestType & 0x1F
    switch (setup.requestType, setup.request) {
    case (0x80, 0x06):
      return deviceDescriptor(type: UInt8(setup.value >> 8), index: UInt8(setup.value & 0xFF))
    case (0x81, 0x06) where setup.index == 0:
      switch setup.value >> 8 {
      case 0x21: return .data(descriptors.hid)
      case 0x22: return .data(OTPInterface.reportDescriptor)
      default: return .stall
      }
    case (0x80, 0x00), (0x81, 0x00), (0x82, 0x00):  // GET_STATUS: not self-powered, no wakeup, not halted
      return validTarget(recipient, setup.index) ? .data([0, 0]) : .stall
    case (0x80, 0x08): return .data([configuration])
    case (0x00, 0x09):
      guard setup.value <= 1 else { return .stall }
      configuration = UInt8(setup.value)
      return .data([])
    case (0x00, 0x05): return setup.value < 128 ? .data([]) : .stall  // SET_ADDRESS
    case (0x81, 0x0A) where setup.index == 0 && configuration == 1: return .data([0])  // GET_INTERFACE
    case (0x01, 0x0B) where setup.index == 0 && setup.value == 0: return .data([])  // SET_INTERFACE alt 0
    case (0x02, 0x01), (0x02, 0x03):  // CLEAR_FEATURE / SET_FEATURE of ENDPOINT_HALT
      return setup.value == 0 && validTarget(2, setup.index) ? .data([]) : .stall
    default: return .stall  // remote wakeup, test mode, SET_DESCRIPTOR, SYNCH_FRAME
    }
  }

  private func validTarget(_ recipient: UInt8, _ index: UInt16) -> Bool {
    switch recipient {
    case 0: return true
    case 1: return index == 0
    case 2: return index == 0 || index == 0x80 || index == UInt16(USBDescriptors.interruptEndpoint)
    default: return false
    }
  }

  private func deviceDescriptor(type: UInt8, index: UInt8) -> ControlResult {
    switch type {
    case 0x01 where index == 0: return .data(descriptors.device)
    case 0x02 where index == 0: return .data(descriptors.configuration)
    case 0x03: return descriptors.string(index).map { .data($0) } ?? .stall
    default: return .stall  // device qualifier (full speed only), BOS (USB 2.0), others
    }
  }

  /// The HID class requests to interface 0 (HID 1.11, section 7.2).
  private mutating func hidClass(_ setup: SetupPacket, data: [UInt8]) -> ControlResult {
    guard setup.requestType & 0x1F == 1, setup.index == 0 else { return .stall }
    let reportType = UInt8(setup.value >> 8)
    let reportID = UInt8(setup.value & 0xFF)
    switch (setup.requestType, setup.request) {
    case (0xA1, 0x01):  // GET_REPORT
      guard reportID == 0 else { return .stall }
      switch reportType {
      case 1: return .data([UInt8](repeating: 0, count: KeyboardReport.size))  // no key held
      case 3: return .data(token.getFeatureReport().bytes)
      default: return .stall
      }
    case (0x21, 0x09):  // SET_REPORT
      guard reportID == 0 else { return .stall }
      switch reportType {
      case 2 where data.count == 1:
        leds = data[0]
        return .data([])
      case 3:
        guard data.count == FeatureReport.size, let report = try? FeatureReport(bytes: data) else {
          return .stall
        }
        token.setFeatureReport(report)
        return .data([])
      default: return .stall
      }
    case (0xA1, 0x02): return .data([idleRate])  // GET_IDLE
    case (0x21, 0x0A):  // SET_IDLE
      idleRate = UInt8(setup.value >> 8)
      return .data([])
    case (0xA1, 0x03): return .data([hidProtocol])  // GET_PROTOCOL
    case (0x21, 0x0B) where setup.value <= 1:  // SET_PROTOCOL
      hidProtocol = UInt8(setup.value)
      return .data([])
    default: return .stall
    }
  }
}
