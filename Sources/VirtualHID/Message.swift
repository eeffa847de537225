/// One message of the virtual HID wire format, version 1:
/// `kind (1) | report id (1) | payload length (2, big-endian) | payload`.
public struct VirtualHIDMessage: Sendable, Hashable {
  /// Message kinds, host to token and token to host.
  public enum Kind: UInt8, Sendable {
    case getInfo = 0x01
    case setFeature = 0x02
    case getFeature = 0x03
    case output = 0x04
    case press = 0x10
    case info = 0x81
    case setFeatureDone = 0x82
    case feature = 0x83
    case outputDone = 0x84
    case pressDone = 0x90
    case input = 0xA0
    case error = 0xFF

    /// The answer kind a token sends for a request kind.
    public var answer: Kind? {
      switch self {
      case .getInfo: return .info
      case .setFeature: return .setFeatureDone
      case .getFeature: return .feature
      case .output: return .outputDone
      case .press: return .pressDone
      default: return nil
      }
    }
  }

  /// Bytes before the payload.
  public static let headerSize = 4
  /// The largest payload either side accepts; the largest legitimate one (INFO) is well under it.
  public static let maximumPayload = 8192

  public var kind: Kind
  public var reportID: UInt8
  public var payload: [UInt8]

  public init(_ kind: Kind, reportID: UInt8 = 0, payload: [UInt8] = []) {
    precondition(payload.count <= Self.maximumPayload)
    self.kind = kind
    self.reportID = reportID
    self.payload = payload
  }

  /// An ERROR message carrying a UTF-8 text.
  public static func error(_ text: String) -> VirtualHIDMessage {
    VirtualHIDMessage(.error, payload: Array(text.utf8.prefix(1024)))
  }

  /// The bytes on the wire.
  public var bytes: [UInt8] {
    [kind.rawValue, reportID, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
  }
}

/// Why bytes on the socket are not a message.
public enum VirtualHIDError: Error, Equatable, Sendable, CustomStringConvertible {
  case unknownKind(UInt8)
  case payloadTooLong(Int)
  case wrongPayload(kind: String, expected: String, actual: Int)
  case connectionClosed
  case io(String)
  case timedOut
  case tokenError(String)
  case unexpectedAnswer(String)

  public var description: String {
    switch self {
    case .unknownKind(let k): return "unknown message kind 0x\(String(k, radix: 16))"
    case .payloadTooLong(let n): return "payload of \(n) bytes exceeds \(VirtualHIDMessage.maximumPayload)"
    case .wrongPayload(let kind, let expected, let actual):
      return "\(kind) carries \(expected), got \(actual) bytes"
    case .connectionClosed: return "the simulated token closed the connection"
    case .io(let why): return why
    case .timedOut: return "timed out"
    case .tokenError(let text): return "the simulated token answered: \(text)"
    case .unexpectedAnswer(let what): return "unexpected answer: \(what)"
    }
  }
}

/// Cuts a byte stream into messages. Feed bytes in any pieces; the same messages come out.
public struct VirtualHIDDecoder: Sendable {
  private var buffer: [UInt8] = []
  private var start = 0

  public init() {}

  /// Appends received bytes.
  public mutating func append(_ bytes: some Sequence<UInt8>) {
    if start > 4096 && start * 2 > buffer.count {
      buffer.removeFirst(start)
      start = 0
    }
    buffer.append(contentsOf: bytes)
  }

  /// The next complete message, nil if more bytes are needed; throws on a header that can never
  /// become a valid message (the connection must then be closed).
  public mutating func next() throws(VirtualHIDError) -> VirtualHIDMessage? {
    let available = buffer.count - start
    guard available >= 1 else { return nil }
    guard let kind = VirtualHIDMessage.Kind(rawValue: buffer[start]) else {
      throw .unknownKind(buffer[start])
    }
    guard available >= VirtualHIDMessage.headerSize else { return nil }
    let length = Int(buffer[start + 2]) << 8 | Int(buffer[start + 3])
    guard length <= VirtualHIDMessage.maximumPayload else { throw .payloadTooLong(length) }
    guard available >= VirtualHIDMessage.headerSize + length else { return nil }
    let payloadStart = start + VirtualHIDMessage.headerSize
    let message = VirtualHIDMessage(
      kind, reportID: buffer[start + 1], payload: Array(buffer[payloadStart..<(payloadStart + length)]))
    start = payloadStart + length
    return message
  }

}

/// The INFO answer: how the simulated token presents itself, as hidapi would list it.
public struct VirtualHIDDeviceInfo: Codable, Sendable, Hashable {
  public var vendorId: UInt16
  public var productId: UInt16
  /// bcdDevice: firmware 5.4.3 is 0x0543.
  public var release: UInt16
  public var usagePage: UInt16
  public var usage: UInt16
  /// The serial as the USB serial-number string (decimal).
  public var serial: String
  public var manufacturer: String
  public var product: String
  /// The HID report descriptor in hex.
  public var reportDescriptor: String
  /// The version of the wire format the token speaks; absent means 1.
  public var wire: Int?

  /// The version of the wire format this module speaks.
  public static let wireVersion = 1

  public init(
    vendorId: UInt16, productId: UInt16, release: UInt16, usagePage: UInt16, usage: UInt16,
    serial: String, manufacturer: String, product: String, reportDescriptor: String,
    wire: Int? = VirtualHIDDeviceInfo.wireVersion
  ) {
    self.wire = wire
    self.vendorId = vendorId
    self.productId = productId
    self.release = release
    self.usagePage = usagePage
    self.usage = usage
    self.serial = serial
    self.manufacturer = manufacturer
    self.product = product
    self.reportDescriptor = reportDescriptor
  }
}
