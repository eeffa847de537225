import USBIPWire

/// A USB/IP client's stream (the kernel's vhci-hcd, or anyone who reaches the port): the first
/// byte says which stage; then each piece of the stream is a byte giving its size, then the piece.
func fuzzUSBIP(_ bytes: [UInt8]) {
  guard let first = bytes.first else { return }
  var reader = USBIPRequestReader()
  reader.imported = first & 1 == 1
  var rest = bytes.dropFirst()
  while !rest.isEmpty {
    let size = Int(rest.removeFirst()) % 64 + 1
    reader.feed(rest.prefix(size))
    rest = rest.dropFirst(size)
    do {
      while let request = try reader.next() {
        if case .submit(let submit) = request, submit.length > USBIP.maximumTransfer {
          fatalError("a transfer past the limit was let through")
        }
      }
    } catch { return }
  }
}
