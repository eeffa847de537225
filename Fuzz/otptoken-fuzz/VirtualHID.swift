import Foundation
import VirtualHID

/// The virtual HID wire format as the simulator's socket server and its clients read it: a
/// stream of messages in any split, and the INFO answer's JSON.
func fuzzVirtualHID(_ bytes: [UInt8]) {
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
