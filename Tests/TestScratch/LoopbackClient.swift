#if os(Linux)
  import Glibc

  /// A TCP client of a server under test on 127.0.0.1, with reads bounded in time.
  public final class LoopbackClient {
    public let fd: Int32
    private var open = true

    /// Connects, or returns nil if nothing accepts on `port`.
    public init?(port: UInt16) {
      fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = port.bigEndian
      address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard connected == 0 else {
        close(fd)
        return nil
      }
    }

    deinit { hangUp() }

    /// Closes the connection (once).
    public func hangUp() {
      if open { close(fd) }
      open = false
    }

    public func send(_ bytes: [UInt8]) {
      _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Exactly `count` bytes, or what arrived before the server closed or two seconds passed.
    public func read(_ count: Int) -> [UInt8] {
      var bytes: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: count)
      while bytes.count < count {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 2000) == 1 else { break }
        let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - bytes.count, 0) }
        guard got > 0 else { break }
        bytes += buffer[0..<got]
      }
      return bytes
    }

    /// True when the server closed the connection (within two seconds).
    public var closedByServer: Bool {
      var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&entry, 1, 2000) == 1 else { return false }
      var byte: UInt8 = 0
      return recv(fd, &byte, 1, 0) == 0
    }
  }
#endif
