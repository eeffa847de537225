import Glibc  // Linux only: Unix sockets through glibc

/// Thin, checked wrappers over the POSIX calls a Unix stream socket needs; errors carry errno text.
public enum UnixSocket {
  /// The longest path a sockaddr_un holds.
  public static let maximumPathLength = 107

  private static func address(_ path: String) throws(VirtualHIDError) -> sockaddr_un {
    let bytes = Array(path.utf8)
    guard !bytes.isEmpty, bytes.count <= maximumPathLength else {
      throw .io("socket path must be 1 to \(maximumPathLength) bytes: \(path)")
    }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, byte) in bytes.enumerated() { raw[i] = byte }
    }
    return address
  }

  static func errorText(_ what: String) -> String {
    "\(what): \(String(cString: strerror(errno)))"
  }

  private static func newSocket() throws(VirtualHIDError) -> Int32 {
    #if canImport(Glibc)
      let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    #else
      let fd = socket(AF_UNIX, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw .io(errorText("socket")) }
    return fd
  }

  /// Connects to a listening socket; the descriptor is blocking.
  public static func connect(path: String) throws(VirtualHIDError) -> Int32 {
    var address = try address(path)
    let fd = try newSocket()
    let result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard result == 0 else {
      let text = errorText("cannot connect to \(path)")
      close(fd)
      throw .io(text)
    }
    return fd
  }

  /// Binds and listens on `path`. A stale socket file nobody listens on is replaced; a live one is
  /// refused so two simulators never share a path, and anything that is not a socket (a file, a
  /// folder, a symbolic link) is left alone and refused. The socket is made owner-only (0600).
  public static func listen(path: String) throws(VirtualHIDError) -> Int32 {
    var address = try address(path)
    var info = stat()
    if lstat(path, &info) == 0 {
      guard info.st_mode & S_IFMT == S_IFSOCK else {
        throw .io(
          "\(path) exists and is not a socket; refusing to replace it (remove it, or choose another path)")
      }
      if let probe = try? connect(path: path) {
        close(probe)
        throw .io("another simulated token already listens on \(path)")
      }
      unlink(path)
    }
    let fd = try newSocket()
    let oldMask = umask(0o077)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    umask(oldMask)
    guard bound == 0 else {
      let text = errorText("cannot bind \(path)")
      close(fd)
      throw .io(text)
    }
    guard Glibc.listen(fd, 64) == 0 else {
      let text = errorText("cannot listen on \(path)")
      close(fd)
      throw .io(text)
    }
    return fd
  }

  /// Writes every byte, retrying on interruption and partial writes.
  public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(VirtualHIDError) {
    var offset = 0
    while offset < bytes.count {
      let written = bytes[offset...].withUnsafeBytes {
        send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if written < 0 {
        if errno == EINTR { continue }
        throw .io(errorText("write to simulated token"))
      }
      offset += written
    }
  }

  /// Waits until `fd` is readable or `timeoutMilliseconds` pass (negative: forever).
  public static func waitReadable(_ fd: Int32, timeoutMilliseconds: Int32) throws(VirtualHIDError) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    while true {
      let ready = poll(&entry, 1, timeoutMilliseconds)
      if ready < 0 {
        if errno == EINTR { continue }
        throw .io(errorText("poll"))
      }
      return ready > 0
    }
  }

  /// Reads what is available (at most `maximum` bytes); an empty result means the peer closed.
  public static func read(_ fd: Int32, maximum: Int = 65536) throws(VirtualHIDError) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: maximum)
    while true {
      let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, maximum, 0) }
      if count < 0 {
        if errno == EINTR { continue }
        throw .io(errorText("read from simulated token"))
      }
      return Array(buffer[0..<count])
    }
  }
}
