import Foundation
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

@Suite struct WireVersionTests {
  /// A one-shot token that answers GET_INFO with `json`, on a socket in a fresh folder.
  func serve(_ json: String) throws -> (path: String, done: Thread) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vhid-\(UUID().uuidString)")
      .path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/t.sock"
    let listener = try UnixSocket.listen(path: path)
    let thread = Thread {
      let fd = accept(listener, nil, nil)
      defer {
        close(fd)
        close(listener)
        try? FileManager.default.removeItem(atPath: folder)
      }
      _ = try? UnixSocket.read(fd)
      try? UnixSocket.writeAll(fd, VirtualHIDMessage(.info, payload: Array(json.utf8)).bytes)
    }
    thread.start()
    return (path, thread)
  }

  let fields = """
    "vendorId":4176,"productId":1031,"release":1347,"usagePage":1,"usage":6,"serial":"1",
    "manufacturer":"Yubico","product":"YubiKey","reportDescriptor":"00"
    """

  @Test func aTokenOfAnotherVersionIsRefused() throws {
    let server = try serve("{\(fields),\"wire\":2}")
    let client = try VirtualHIDClient(path: server.path)
    #expect(throws: VirtualHIDError.self) { try client.info() }
  }

  @Test func aTokenWithoutTheFieldSpeaksVersionOne() throws {
    let server = try serve("{\(fields)}")
    let info = try VirtualHIDClient(path: server.path).info()
    #expect(info.wire == nil && info.serial == "1")
  }
}
