import OTPWire
import Testing
import TokenSimulator
import TokenSimulatorUSBIP
import USBIPWire

func setup(_ requestType: UInt8, _ request: UInt8, value: UInt16 = 0, index: UInt16 = 0, length: UInt16 = 0)
  -> SetupPacket
{
  SetupPacket(requestType: requestType, request: request, value: value, index: index, length: length)
}

/// A CMD_SUBMIT on the wire, as vhci-hcd writes it (device ID 1-2).
func submitBytes(
  sequence: UInt32, directionIn: Bool, endpoint: UInt32, length: Int,
  setup: [UInt8] = [UInt8](repeating: 0, count: 8),
  data: [UInt8] = [], deviceID: UInt32 = 0x0001_0002
) -> [UInt8] {
  [1, sequence, deviceID, directionIn ? 1 : 0, endpoint, 0, UInt32(length), 0, 0xFFFF_FFFF, 0].flatMap(be32)
    + setup
    + data
}

func be32(_ value: UInt32) -> [UInt8] {
  [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

let importRequest: [UInt8] =
  [0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0] + Array("1-1".utf8) + [UInt8](repeating: 0, count: 29)

@Suite struct USBTokenDeviceTests {
  @Test func descriptorsAreTruncatedToWhatTheHostAsksAndUnknownOnesStall() throws {
    var device = USBTokenDevice(token: try SimulatedToken(serial: 12_345_678))
    #expect(
      device.control(setup(0x80, 0x06, value: 0x0100, length: 8), data: [])
        == .data(Array(device.descriptors.device.prefix(8))))
    #expect(
      device.control(setup(0x80, 0x06, value: 0x0300, length: 255), data: []) == .data([4, 3, 0x09, 0x04]))
    for value: UInt16 in [0x0303, 0x0600, 0x0F00, 0x0101, 0x0201] {
      #expect(
        device.control(setup(0x80, 0x06, value: value, length: 255), data: []) == .stall,
        "descriptor \(value)")
    }
    // The report descriptor belongs to interface 0 only.
    #expect(device.control(setup(0x81, 0x06, value: 0x2200, index: 1, length: 255), data: []) == .stall)
    #expect(
      device.control(setup(0x81, 0x06, value: 0x2100, length: 9), data: []) == .data(device.descriptors.hid))
  }

  @Test func featureReportsReachTheFirmwareAndMalformedOnesChangeNothing() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    var device = USBTokenDevice(token: token)
    guard case .data(let status) = device.control(setup(0xA1, 0x01, value: 0x0300, length: 8), data: [])
    else {
      Issue.record("GET_REPORT stalled")
      return
    }
    #expect(status == token.getFeatureReport().bytes && Array(status[1..<4]) == [5, 4, 3])
    // A frame that configures slot 2 with RFC 4226's key, written the way ykpersonalize does.
    let settings = HOTPSlotSettings(key: Array("12345678901234567890".utf8))
    let frame = try Frame(command: .configure(.two), payload: settings.configuration().commandPayload())
    let before = token.state
    // Wrong sizes, a report ID, an input report, a wrong interface: stall, firmware untouched.
    let refused: [(SetupPacket, [UInt8])] = [
      (setup(0x21, 0x09, value: 0x0300, length: 7), Array(frame.reports[0].bytes.prefix(7))),
      (setup(0x21, 0x09, value: 0x0301, length: 8), frame.reports[0].bytes),
      (setup(0x21, 0x09, value: 0x0100, length: 8), frame.reports[0].bytes),
      (setup(0x21, 0x09, value: 0x0300, index: 1, length: 8), frame.reports[0].bytes),
      (setup(0x21, 0x09, value: 0x0300, length: 9), frame.reports[0].bytes),
      (setup(0x41, 0x09, value: 0x0300, length: 8), frame.reports[0].bytes),
    ]
    for (packet, data) in refused { #expect(device.control(packet, data: data) == .stall, "\(packet)") }
    #expect(token.state == before)
    for report in frame.reports {
      #expect(device.control(setup(0x21, 0x09, value: 0x0300, length: 8), data: report.bytes) == .data([]))
    }
    #expect(token.pressAndRead(.two) == "755224\r")
  }

  @Test func theHIDClassRequestsKeepTheirState() throws {
    var device = USBTokenDevice(token: try SimulatedToken(serial: 1))
    #expect(device.control(setup(0x21, 0x0A, value: 0x7D00), data: []) == .data([]))
    #expect(device.control(setup(0xA1, 0x02, length: 1), data: []) == .data([0x7D]))
    #expect(device.control(setup(0x21, 0x0B, value: 0), data: []) == .data([]))
    #expect(device.control(setup(0xA1, 0x03, length: 1), data: []) == .data([0]))
    #expect(device.control(setup(0x21, 0x0B, value: 2), data: []) == .stall)
    #expect(device.control(setup(0x21, 0x09, value: 0x0200, length: 1), data: [0x02]) == .data([]))
    #expect(device.leds == 0x02)
    #expect(device.control(setup(0x00, 0x09, value: 2), data: []) == .stall)
    #expect(device.configuration == 0)
    #expect(device.control(setup(0x00, 0x09, value: 1), data: []) == .data([]))
    #expect(device.control(setup(0x80, 0x08, length: 1), data: []) == .data([1]))
    #expect(device.control(setup(0x82, 0x00, index: 0x81, length: 2), data: []) == .data([0, 0]))
    #expect(device.control(setup(0x82, 0x00, index: 0x02, length: 2), data: []) == .stall)
    #expect(device.control(setup(0x00, 0x03, value: 1), data: []) == .stall)  // no remote wakeup
  }
}

@Suite struct USBIPSessionTests {
  @Test func transfersBeforeAnImportAreAProtocolError() throws {
    var session = USBIPSession(token: try SimulatedToken(serial: 1))
    #expect(throws: USBIP.WireError.self) {
      try session.receive(submitBytes(sequence: 1, directionIn: true, endpoint: 0, length: 18))
    }
  }

  @Test func anUnknownBusIDIsRefusedAndNothingIsAttached() throws {
    var session = USBIPSession(token: try SimulatedToken(serial: 1))
    let other = [0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0] + Array("2-1".utf8) + [UInt8](repeating: 0, count: 29)
    let (replies, event) = try session.receive(other)
    #expect(replies == [[0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]] && event == nil && !session.isAttached)
  }

  @Test func transfersToAnotherDeviceOrEndpointFailWithoutTouchingTheToken() throws {
    let token = try SimulatedToken(serial: 1)
    var session = USBIPSession(token: token)
    _ = try session.receive(importRequest)
    let getStatus: [UInt8] = [0xA1, 0x01, 0x00, 0x03, 0x00, 0x00, 0x08, 0x00]
    let replies = try session.receive(
      submitBytes(
        sequence: 5, directionIn: true, endpoint: 0, length: 8, setup: getStatus, deviceID: 0x0001_0003)
        + submitBytes(
          sequence: 6, directionIn: false, endpoint: 1, length: 8, data: [UInt8](repeating: 0, count: 8))
        + submitBytes(sequence: 7, directionIn: true, endpoint: 2, length: 8)
        // a setup packet whose direction contradicts the transfer's
        + submitBytes(sequence: 8, directionIn: false, endpoint: 0, length: 0, setup: getStatus)
    ).replies.map { try Reply($0) }
    #expect(replies.map(\.sequence) == [5, 6, 7, 8])
    #expect(replies.map(\.status) == [-19, -32, -32, -32])
    #expect(session.waiting.isEmpty)
  }

  @Test func keyboardReportsWaitForTransfersAndUnlinksCancelOnlyWaitingOnes() throws {
    let token = try SimulatedToken(serial: 1)
    var session = USBIPSession(token: token)
    #expect(
      session.type([KeyboardReport(modifier: 0, usage: 0x04)]).isEmpty, "typed before an import: dropped")
    _ = try session.receive(importRequest)
    #expect(session.queued.isEmpty)
    let reports = [KeyboardReport(modifier: 0, usage: 0x04), KeyboardReport.released]
    #expect(session.type(reports).isEmpty)
    #expect(session.queued.count == 2)
    // Each interrupt transfer takes the next report at once.
    let first = try session.receive(submitBytes(sequence: 10, directionIn: true, endpoint: 1, length: 8))
      .replies
    #expect(try first.map { try Reply($0) }.map(\.data) == [reports[0].bytes])
    _ = try session.receive(submitBytes(sequence: 11, directionIn: true, endpoint: 1, length: 8))
    #expect(session.queued.isEmpty)
    // Two transfers wait; unlinking one cancels it, unlinking a completed one reports 0.
    _ = try session.receive(submitBytes(sequence: 12, directionIn: true, endpoint: 1, length: 8))
    _ = try session.receive(submitBytes(sequence: 13, directionIn: true, endpoint: 1, length: 8))
    let unlink = { (sequence: UInt32, victim: UInt32) in
      [2, sequence, 0x0001_0002, 0, 0, victim].flatMap(be32) + [UInt8](repeating: 0, count: 24)
    }
    let cancelled = try session.receive(unlink(14, 12) + unlink(15, 10)).replies.map { try Reply($0) }
    #expect(cancelled.map(\.sequence) == [14, 15] && cancelled.map(\.status) == [-104, 0])
    #expect(session.waiting.map(\.sequence) == [13])
    let typed = try session.type([reports[0]]).map { try Reply($0) }
    #expect(typed.map(\.sequence) == [13] && typed.map(\.data) == [reports[0].bytes])
  }

  @Test func aClientCannotMakeTheSessionHoldUnboundedTransfersOrReports() throws {
    var session = USBIPSession(token: try SimulatedToken(serial: 1))
    _ = try session.receive(importRequest)
    let flood = (1...100).flatMap {
      submitBytes(sequence: UInt32($0), directionIn: true, endpoint: 1, length: 8)
    }
    let refused = try session.receive(flood).replies.map { try Reply($0) }
    #expect(session.waiting.count == USBIPSession.maximumWaiting)
    #expect(refused.count == 100 - USBIPSession.maximumWaiting && refused.allSatisfy { $0.status == -12 })
    var other = USBIPSession(token: try SimulatedToken(serial: 2))
    _ = try other.receive(importRequest)
    for _ in 0..<100 {
      _ = other.type([KeyboardReport.released, KeyboardReport.released, KeyboardReport.released])
    }
    #expect(other.queued.count == USBIPSession.maximumQueued)
  }
}
