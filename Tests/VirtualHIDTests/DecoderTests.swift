import Testing

@testable import VirtualHID

@Suite struct VirtualHIDDecoderTests {
  let messages = [
    VirtualHIDMessage(.getInfo), VirtualHIDMessage(.setFeature, payload: [0, 0, 0, 0, 0, 0, 0, 0x80]),
    VirtualHIDMessage(.input, payload: [0, 0, 0x24, 0, 0, 0, 0, 0]), VirtualHIDMessage.error("bad"),
    VirtualHIDMessage(.info, payload: Array(repeating: 0x41, count: 300)),
  ]

  @Test func byteAtATimeEqualsAllAtOnce() throws {
    let stream = messages.flatMap(\.bytes)
    var whole = VirtualHIDDecoder()
    whole.append(stream)
    var all: [VirtualHIDMessage] = []
    while let m = try whole.next() { all.append(m) }
    var single = VirtualHIDDecoder()
    var oneByOne: [VirtualHIDMessage] = []
    for byte in stream {
      single.append([byte])
      while let m = try single.next() { oneByOne.append(m) }
    }
    #expect(all == messages)
    #expect(oneByOne == messages)
  }

  @Test func wireLayout() {
    #expect(VirtualHIDMessage(.press, payload: [2]).bytes == [0x10, 0, 0, 1, 2])
    #expect(
      VirtualHIDMessage(.info, payload: Array(repeating: 0, count: 258)).bytes.prefix(4) == [0x81, 0, 1, 2])
  }

  @Test func badHeadersAreErrors() throws {
    var unknown = VirtualHIDDecoder()
    unknown.append([0x55, 0, 0, 0])
    #expect(throws: VirtualHIDError.unknownKind(0x55)) { try unknown.next() }
    var huge = VirtualHIDDecoder()
    huge.append([0x02, 0, 0xFF, 0xFF])
    #expect(throws: VirtualHIDError.payloadTooLong(65535)) { try huge.next() }
    var truncated = VirtualHIDDecoder()
    truncated.append([0x02, 0, 0, 8, 1, 2])
    #expect(try truncated.next() == nil)
  }
}
