import Testing
import USBIPWire

func be32(_ value: UInt32) -> [UInt8] {
  [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// A USBIP_CMD_SUBMIT header as vhci-hcd writes it.
func submitHeader(
  sequence: UInt32, directionIn: Bool, endpoint: UInt32, length: UInt32, packets: UInt32 = 0, setup: [UInt8]
) -> [UInt8] {
  be32(1) + be32(sequence) + be32(0x0001_0002) + be32(directionIn ? 1 : 0) + be32(endpoint) + be32(0)
    + be32(length) + be32(0) + be32(packets) + be32(0) + setup
}

@Suite struct USBIPWireTests {
  @Test func theFirstStageIsReadInPiecesOfAnySize() throws {
    var reader = USBIPRequestReader()
    let list: [UInt8] = [0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]
    let importing =
      [0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0] + Array("1-1".utf8) + [UInt8](repeating: 0, count: 29)
    var requests: [USBIP.Request] = []
    for byte in list + importing {
      reader.feed([byte])
      while let request = try reader.next() { requests.append(request) }
    }
    #expect(requests == [.listDevices, .importDevice(busID: "1-1")])
  }

  @Test func transfersAreReadWithTheirDataAndUnlinksWithTheirVictim() throws {
    var reader = USBIPRequestReader()
    reader.imported = true
    // GET_DESCRIPTOR (device), 18 bytes in; SET_REPORT (feature) with its 8 bytes out; an unlink.
    let getDescriptor = submitHeader(
      sequence: 1, directionIn: true, endpoint: 0, length: 18,
      setup: [0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00])
    let setReport =
      submitHeader(
        sequence: 2, directionIn: false, endpoint: 0, length: 8, packets: 0xFFFF_FFFF,
        setup: [0x21, 0x09, 0x00, 0x03, 0x00, 0x00, 0x08, 0x00]) + [1, 2, 3, 4, 5, 6, 7, 0x80]
    let unlink =
      be32(2) + be32(3) + be32(0x0001_0002) + be32(0) + be32(0) + be32(2) + [UInt8](repeating: 0, count: 24)
    let stream = getDescriptor + setReport + unlink
    var requests: [USBIP.Request] = []
    for start in stride(from: 0, to: stream.count, by: 7) {
      reader.feed(stream[start..<min(start + 7, stream.count)])
      while let request = try reader.next() { requests.append(request) }
    }
    #expect(requests.count == 3)
    guard case .submit(let first) = requests[0], case .submit(let second) = requests[1] else {
      Issue.record("\(requests)")
      return
    }
    #expect(first.directionIn && first.length == 18 && first.data.isEmpty && first.setup[1] == 0x06)
    #expect(first.deviceID == 0x0001_0002)
    #expect(!second.directionIn && second.data == [1, 2, 3, 4, 5, 6, 7, 0x80] && second.setup[3] == 0x03)
    #expect(requests[2] == .unlink(sequence: 3, deviceID: 0x0001_0002, victim: 2))
  }

  @Test func whatIsNotUSBIPEndsTheConnection() {
    var wrongVersion = USBIPRequestReader()
    wrongVersion.feed([0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0])
    #expect(throws: USBIP.WireError.unsupportedVersion(0x0106)) { try wrongVersion.next() }
    var unknown = USBIPRequestReader()
    unknown.feed([0x01, 0x11, 0x80, 0x07, 0, 0, 0, 0])
    #expect(throws: USBIP.WireError.unknownCommand(0x8007)) { try unknown.next() }
    var iso = USBIPRequestReader()
    iso.imported = true
    iso.feed(
      submitHeader(
        sequence: 1, directionIn: true, endpoint: 1, length: 8, packets: 4,
        setup: [UInt8](repeating: 0, count: 8)))
    #expect(throws: USBIP.WireError.isochronous) { try iso.next() }
    var huge = USBIPRequestReader()
    huge.imported = true
    huge.feed(
      submitHeader(
        sequence: 1, directionIn: false, endpoint: 0, length: 1 << 30, setup: [UInt8](repeating: 0, count: 8))
    )
    #expect(throws: USBIP.WireError.self) { try huge.next() }
  }

  @Test func repliesHaveTheKernelsLayout() {
    let device = USBIP.Device(
      path: "/sys/devices/otptoken/1-1", busID: "1-1", busNumber: 1, deviceNumber: 2, speed: 2,
      vendorID: 0x1050,
      productID: 0x0407, bcdDevice: 0x0543, interfaces: [(3, 1, 1)])
    let list = USBIPReply.deviceList([device])
    #expect(list.count == 12 + 312 + 4)
    #expect(Array(list[0..<12]) == [0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 1])
    #expect(Array(list[12 + 256..<12 + 259]) == Array("1-1".utf8))
    #expect(Array(list[12 + 300..<12 + 304]) == [0x10, 0x50, 0x04, 0x07])
    #expect(Array(list[(list.count - 4)...]) == [3, 1, 1, 0])
    #expect(USBIPReply.imported(device).count == 8 + 312)
    #expect(USBIPReply.imported(nil) == [0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1])
    let submit = USBIP.Submit(
      sequence: 9, deviceID: device.deviceID, directionIn: true, endpoint: 0, length: 18)
    let answer = USBIPReply.submitted(submit, status: 0, data: [UInt8](repeating: 7, count: 18))
    #expect(
      answer.count == 48 + 18 && Array(answer[0..<8]) == be32(3) + be32(9)
        && Array(answer[24..<28]) == be32(18))
    let unlinked = USBIPReply.unlinked(sequence: 10, status: -104)
    #expect(unlinked.count == 48 && Array(unlinked[20..<24]) == [0xFF, 0xFF, 0xFF, 0x98])
  }

  @Test func randomStreamsNeverCrashTheReader() {
    var generator = SystemRandomNumberGenerator()
    for round in 0..<5_000 {
      var reader = USBIPRequestReader()
      reader.imported = round % 2 == 0
      reader.feed(
        (0..<Int.random(in: 0...200, using: &generator)).map { _ in
          UInt8.random(in: 0...255, using: &generator)
        })
      for _ in 0..<10 {
        guard let request = try? reader.next() else { break }
        if case .submit(let submit) = request { #expect(submit.length <= USBIP.maximumTransfer) }
      }
    }
  }
}
