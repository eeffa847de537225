import Foundation
import OTPWire
import Testing
import TokenSimulator
import TokenSimulatorUSBIP
import USBIPWire

/// What Linux 6.1's vhci-hcd sent the simulator in the VM lane (scripts/usbip-lane-guest.sh
/// writes it with --usbip-trace): `usbip list` (connection 1); the attach with enumeration,
/// usbhid, hidapi, `otptoken token info`, `ykinfo -s`, `ykpersonalize -2 -o oath-hotp` with RFC
/// 4226's key and `usbip detach` (connection 2); a second attach (connection 3). Each line is one
/// read from the socket, so the replay also splits the stream where TCP split it.
struct Recording {
  let chunks: [(connection: Int, bytes: [UInt8])]

  static func load() throws -> Recording {
    let url = try #require(
      Bundle.module.url(forResource: "attach", withExtension: "trace", subdirectory: "Recordings"))
    let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
    return Recording(
      chunks: try lines.map { line in
        let parts = line.split(separator: " ")
        try #require(parts.count == 2)
        return (try #require(Int(parts[0])), try hex(String(parts[1])))
      })
  }

  func stream(_ connection: Int) -> [[UInt8]] { chunks.filter { $0.connection == connection }.map(\.bytes) }
}

func hex(_ text: String) throws -> [UInt8] {
  let digits = Array(text.utf8)
  try #require(digits.count % 2 == 0)
  return try stride(from: 0, to: digits.count, by: 2).map {
    try #require(UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16))
  }
}

func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[at + $1]) } }

/// A reply of the second stage, read independently of the simulator's encoder.
struct Reply: Equatable {
  enum Kind { case submit, unlink }
  var kind: Kind
  var sequence: UInt32
  var status: Int32
  var data: [UInt8]

  init(_ bytes: [UInt8]) throws {
    try #require(bytes.count >= 48)
    let command = u32(bytes, 0)
    try #require(command == 3 || command == 4)
    kind = command == 3 ? .submit : .unlink
    sequence = u32(bytes, 4)
    status = Int32(bitPattern: u32(bytes, 20))
    data = Array(bytes[48...])
    if kind == .submit { try #require(Int(u32(bytes, 24)) == data.count || status != 0 || data.isEmpty) }
  }
}

/// The recorded transfers, decoded by the wire reader, by sequence number.
func recordedSubmits(_ stream: [[UInt8]]) throws -> [UInt32: USBIP.Submit] {
  var reader = USBIPRequestReader()
  var submits: [UInt32: USBIP.Submit] = [:]
  for chunk in stream {
    reader.feed(chunk)
    while let request = try reader.next() {
      switch request {
      case .importDevice: reader.imported = true
      case .submit(let submit): submits[submit.sequence] = submit
      default: break
      }
    }
  }
  return submits
}

@Suite struct RecordedAttachTests {
  let recording: Recording
  init() throws { recording = try Recording.load() }

  @Test func theDeviceListShowsAYubiKey5OnBus1() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    var session = USBIPSession(token: token)
    var replies: [[UInt8]] = []
    for chunk in recording.stream(1) { replies += try session.receive(chunk).replies }
    #expect(replies.count == 1)
    let list = replies.joined().map { $0 }
    #expect(Array(list[0..<12]) == [0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 1])
    #expect(String(decoding: list[(12 + 256)..<(12 + 259)], as: UTF8.self) == "1-1")
    #expect(Array(list[312..<318]) == [0x10, 0x50, 0x04, 0x07, 0x05, 0x43])  // vendor, product, bcdDevice
    #expect(Array(list[324...]) == [0x03, 0x01, 0x01, 0x00])  // one interface: HID, boot, keyboard
    #expect(!session.isAttached)
  }

  @Test func theKernelsEnumerationAndYubicosToolsGetTheAnswersOfARealToken() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    var session = USBIPSession(token: token)
    var replies: [Reply] = []
    var events: [USBIPSession.Event] = []
    let stream = recording.stream(2)
    for chunk in stream {
      let (bytes, event) = try session.receive(chunk)
      if let event { events.append(event) }
      // The import's answer is the only first-stage reply on this connection.
      replies += try bytes.filter { !($0.starts(with: [0x01, 0x11])) }.map { try Reply($0) }
    }
    #expect(events == [.attached])
    let submits = try recordedSubmits(stream)
    let answers = Dictionary(
      replies.filter { $0.kind == .submit }.map { ($0.sequence, $0) }, uniquingKeysWith: { a, _ in a })
    #expect(answers.count == replies.filter { $0.kind == .submit }.count, "a transfer was answered twice")

    // Every control transfer is answered; interrupt transfers wait for a press or are unlinked.
    for (sequence, submit) in submits where submit.endpoint == 0 {
      #expect(answers[sequence] != nil, "control transfer \(sequence) unanswered")
    }
    // usbhid keeps one interrupt transfer waiting; it cancels it when hidraw and the keyboard
    // let go (ykpersonalize detaching the driver) and submits the next one after every report.
    // No press happens in the replay, so each transfer the press completed in the VM still waits.
    let unlinks = replies.filter { $0.kind == .unlink }
    let interrupts = submits.values.filter { $0.endpoint == 1 }.map(\.sequence).sorted()
    #expect(!unlinks.isEmpty && unlinks.allSatisfy { $0.status == -104 }, "cancelled with -ECONNRESET")
    #expect(interrupts.allSatisfy { answers[$0] == nil })
    let waiting = session.waiting.map(\.sequence)
    #expect(waiting.count == interrupts.count - unlinks.count && waiting == waiting.sorted())
    #expect(Set(waiting).isSubset(of: interrupts))

    func answer(_ setup: [UInt8]) -> [Reply] {
      submits.filter { $0.value.setup == setup }.keys.sorted().compactMap { answers[$0] }
    }
    let descriptors = USBDescriptors(identity: token.identity)
    // The first GET_DESCRIPTOR asks for 64 bytes and gets the 18 there are.
    let device = answer([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x00])
    #expect(device.first?.data == descriptors.device && descriptors.device.count == 18)
    #expect(Array(descriptors.device[8..<14]) == [0x50, 0x10, 0x07, 0x04, 0x43, 0x05])
    // A full-speed device has no device qualifier: the kernel's request stalls (-EPIPE).
    let qualifier = answer([0x80, 0x06, 0x00, 0x06, 0x00, 0x00, 0x0A, 0x00])
    #expect(!qualifier.isEmpty && qualifier.allSatisfy { $0.status == -32 && $0.data.isEmpty })
    // The configuration header (9 bytes), then all of it (34): interface, HID, endpoint.
    #expect(
      answer([0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0x09, 0x00]).first?.data
        == Array(descriptors.configuration.prefix(9)))
    let configuration = try #require(answer([0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0x22, 0x00]).first?.data)
    #expect(configuration.count == 34 && configuration[2] == 34)
    #expect(Array(configuration[9..<18]) == [9, 4, 0, 0, 1, 3, 1, 1, 0])
    #expect(Array(configuration[27..<34]) == [7, 5, 0x81, 3, 8, 0, 10])
    // Strings: US English; the product as hidapi shows it.
    #expect(answer([0x80, 0x06, 0x00, 0x03, 0x00, 0x00, 0xFF, 0x00]).first?.data == [4, 3, 0x09, 0x04])
    let product = try #require(answer([0x80, 0x06, 0x02, 0x03, 0x09, 0x04, 0xFF, 0x00]).first?.data)
    #expect(
      String(decoding: stride(from: 2, to: product.count, by: 2).map { UInt16(product[$0]) }, as: UTF16.self)
        == "YubiKey OTP+FIDO+CCID")
    // usbhid: SET_CONFIGURATION 1, SET_IDLE, the report descriptor, the LEDs.
    #expect(answer([0x00, 0x09, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]).first?.status == 0)
    #expect(session.device.configuration == 1)
    #expect(answer([0x21, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]).allSatisfy { $0.status == 0 })
    #expect(
      answer([0x81, 0x06, 0x00, 0x22, 0x00, 0x00, 0x4A, 0x00]).first?.data == OTPInterface.reportDescriptor)
    // Feature reports: every GET_REPORT got 8 bytes; the first one is the status report.
    let features = answer([0xA1, 0x01, 0x00, 0x03, 0x00, 0x00, 0x08, 0x00])
    #expect(features.count > 20 && features.allSatisfy { $0.status == 0 && $0.data.count == 8 })
    #expect(Array(features[0].data[1..<4]) == [5, 4, 3])

    // ykpersonalize's configuration reached the firmware: slot 2 now types RFC 4226's first code,
    // one keyboard report per waiting transfer, oldest first; the rest wait for transfers.
    #expect(token.counter(.two) == 0)
    let typed = token.press(.two)
    #expect((try? KeyboardDecoder.text(of: typed)) == "755224\r")
    let delivered = try session.type(typed).map { try Reply($0) }
    #expect(delivered.count == min(waiting.count, typed.count))
    #expect(delivered.map(\.sequence) == Array(waiting.prefix(delivered.count)))
    #expect(delivered.map(\.data) == typed.prefix(delivered.count).map(\.bytes))
    #expect(delivered.allSatisfy { $0.status == 0 })
    #expect(session.queued.count == typed.count - delivered.count)
  }

  @Test func theSecondAttachIsRefusedWhileTheFirstHoldsTheToken() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    var session = USBIPSession(token: token)
    var replies: [[UInt8]] = []
    // The client hangs up after a refusal, so the replay stops at the first answer.
    for chunk in recording.stream(3) where replies.isEmpty {
      replies += try session.receive(chunk, mayAttach: false).replies
    }
    #expect(replies == [[0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]])
    #expect(!session.isAttached)
    var again = USBIPSession(token: token)
    var event: USBIPSession.Event?
    for chunk in recording.stream(3) { event = try again.receive(chunk).event ?? event }
    #expect(event == .attached && again.isAttached)
  }
}
