import Foundation
import FuzzSupport
import VirtualHID

/// The virtual HID wire format as the simulator's socket server and its clients read it: a
/// stream of messages in any split, and the INFO answer's JSON.
func fuzz(_ bytes: [UInt8]) {
  var whole = VirtualHIDDecoder()
  whole.append(bytes)
  while let message = try? whole.next() {
    if message.kind == .info {
      _ = try? JSONDecoder().decode(VirtualHIDDeviceInfo.self, from: Data(message.payload))
    }
  }
  // The same bytes in pieces of a size the input chooses.
  var pieces = VirtualHIDDecoder()
  let step = Int(bytes.first ?? 1) % 7 + 1
  for start in stride(from: 0, to: bytes.count, by: step) {
    pieces.append(bytes[start..<min(bytes.count, start + step)])
    while (try? pieces.next()).flatMap({ $0 }) != nil {}
  }
  _ = try? JSONDecoder().decode(VirtualHIDDeviceInfo.self, from: Data(bytes))
}

#if OTPTOKEN_FUZZING
  @_cdecl("LLVMFuzzerTestOneInput")
  func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzz(Fuzzing.bytes(data, size))
    return 0
  }

  @_cdecl("fuzz_virtual_hid_main")
  func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzzing.drive(argc, argv, testOneInput)
  }
#else
  @main struct Replay { static func main() { Fuzzing.replay(fuzz) } }
#endif
