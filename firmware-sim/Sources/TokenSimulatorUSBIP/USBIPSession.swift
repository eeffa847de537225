import OTPWire
import TokenSimulator
import USBIPWire

/// One client connection to the exporter, as a pure state machine: bytes from the client go in,
/// the bytes to send back come out. No socket, no thread, no clock: the server drives it, and
/// tests replay recorded streams through it.
///
/// A connection first lists devices or imports the token; after an import it carries transfers:
/// control transfers on endpoint 0 go to ``USBTokenDevice``, interrupt IN transfers on 0x81 wait
/// until the token types (a keyboard report each), unlinks cancel waiting transfers.
public struct USBIPSession: Sendable {
  /// What the client asked for that the server must act on beyond replying.
  public enum Event: Sendable, Equatable {
    /// The token was imported on this connection (it is now attached to the client's machine).
    case attached
  }

  public private(set) var device: USBTokenDevice
  public let exported: USBIP.Device
  private var reader = USBIPRequestReader()
  /// Interrupt IN transfers waiting for a keyboard report, oldest first.
  public private(set) var waiting: [USBIP.Submit] = []
  /// Keyboard reports typed while no transfer was waiting.
  public private(set) var queued: [[UInt8]] = []

  /// Interrupt transfers a client may leave waiting (usbhid keeps one), and keyboard reports kept
  /// for transfers to come (a press types about 16): bounds on what a client can make us hold.
  public static let maximumWaiting = 32
  public static let maximumQueued = 256

  /// The token exported under `busID`.
  public init(token: SimulatedToken, busID: String = "1-1") {
    device = USBTokenDevice(token: token)
    let identity = token.identity
    exported = USBIP.Device(
      path: "/sys/devices/otptoken-sim/usb1/\(busID)", busID: busID, busNumber: 1, deviceNumber: 2,
      speed: 2, vendorID: identity.vendorID, productID: identity.productID, bcdDevice: identity.releaseBCD,
      interfaces: [(0x03, 0x01, 0x01)])
  }

  /// True once the token is imported on this connection.
  public var isAttached: Bool { reader.imported }

  /// Feeds what the client sent; returns the replies, in order, and what happened. `mayAttach` is
  /// false while another connection holds the token: an import is then refused, as a USB/IP host
  /// refuses a device already in use. A malformed stream throws, and the connection must end.
  public mutating func receive(_ bytes: [UInt8], mayAttach: Bool = true) throws(USBIP.WireError) -> (
    replies: [[UInt8]], event: Event?
  ) {
    reader.feed(bytes)
    var replies: [[UInt8]] = []
    var event: Event?
    while let request = try reader.next() {
      switch request {
      case .listDevices:
        replies.append(USBIPReply.deviceList([exported]))
      case .importDevice(let busID):
        guard busID == exported.busID, mayAttach else {
          replies.append(USBIPReply.imported(nil))
          continue
        }
        reader.imported = true
        event = .attached
        replies.append(USBIPReply.imported(exported))
      case .submit(let submit):
        if let reply = handle(submit) { replies.append(reply) }
      case .unlink(let sequence, _, let victim):
        let before = waiting.count
        waiting.removeAll { $0.sequence == victim }
        // -ECONNRESET: cancelled before it completed; 0: it had completed (its reply is sent).
        replies.append(USBIPReply.unlinked(sequence: sequence, status: waiting.count < before ? -104 : 0))
      }
    }
    return (replies, event)
  }

  /// Keyboard reports the token typed: each completes one waiting interrupt transfer, or waits for
  /// the next one. Returns the replies to send.
  public mutating func type(_ reports: [KeyboardReport]) -> [[UInt8]] {
    guard reader.imported else { return [] }
    queued += reports.prefix(Self.maximumQueued - queued.count).map(\.bytes)
    return deliver()
  }

  private mutating func handle(_ submit: USBIP.Submit) -> [UInt8]? {
    guard submit.deviceID == exported.deviceID else {
      return USBIPReply.submitted(submit, status: -19, data: [])  // -ENODEV
    }
    switch (submit.endpoint, submit.directionIn) {
    case (0, _):
      // The device checks that an OUT request's data is as long as its setup packet says.
      guard let setup = SetupPacket(bytes: submit.setup), setup.directionIn == submit.directionIn else {
        return USBIPReply.submitted(submit, status: -32, data: [])
      }
      switch device.control(setup, data: submit.data) {
      case .data(let bytes):
        return USBIPReply.submitted(submit, status: 0, data: Array(bytes.prefix(submit.length)))
      case .stall: return USBIPReply.submitted(submit, status: -32, data: [])  // -EPIPE
      }
    case (UInt32(USBDescriptors.interruptEndpoint & 0x0F), true) where submit.length >= KeyboardReport.size:
      guard waiting.count < Self.maximumWaiting else {
        return USBIPReply.submitted(submit, status: -12, data: [])  // -ENOMEM
      }
      waiting.append(submit)
      return deliver().first
    default:
      return USBIPReply.submitted(submit, status: -32, data: [])  // no such endpoint
    }
  }

  /// Pairs queued reports with waiting transfers.
  private mutating func deliver() -> [[UInt8]] {
    var replies: [[UInt8]] = []
    while !waiting.isEmpty, !queued.isEmpty {
      replies.append(USBIPReply.submitted(waiting.removeFirst(), status: 0, data: queued.removeFirst()))
    }
    return replies
  }
}
