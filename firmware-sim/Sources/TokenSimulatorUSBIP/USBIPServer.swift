#if os(Linux)
  import Glibc
  import OTPWire
  import Synchronization
  import TokenSimulator
  import USBIPWire

  /// Why the USB/IP server could not start.
  public struct USBIPServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
  }

  /// The simulated token exported over USB/IP on a TCP port, for `usbip attach` and the kernel's
  /// vhci-hcd: the token then becomes a USB device on the client's machine, with the whole USB
  /// stack above it (usbhid, hidraw, libusb, udev).
  ///
  /// One connection at a time may hold the token; others may list it. A client that sends a
  /// malformed stream is disconnected and the token is unchanged. Closing the connection (`usbip
  /// detach`) unplugs the token. One thread runs ``run()``; ``type(_:)`` and ``stop()`` may be
  /// called from any thread.
  public final class USBIPServer: @unchecked Sendable {
    /// Connections beyond this many are closed as soon as they are accepted.
    public static let maximumConnections = 8

    public let token: SimulatedToken
    /// The address and port the server listens on, as bound (the port is chosen when 0 was asked).
    public let address: String
    public let port: UInt16
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let log: @Sendable (String) -> Void
    private let trace: (@Sendable (Int, [UInt8]) -> Void)?

    private struct Connection {
      var fd: Int32
      var number: Int
      var session: USBIPSession
    }
    private struct State {
      var connections: [Connection] = []
      var attached: Int32?
      var accepted = 0
    }
    private let state = Mutex(State())

    /// Binds `address` (an IPv4 or IPv6 literal) and `port`; loopback unless asked otherwise.
    /// `trace` receives every byte clients send, by connection number, for recordings.
    public init(
      token: SimulatedToken, address: String = "127.0.0.1", port: UInt16 = 3240,
      log: @escaping @Sendable (String) -> Void = { _ in }, trace: (@Sendable (Int, [UInt8]) -> Void)? = nil
    ) throws(USBIPServerError) {
      var storage = sockaddr_storage()
      let family = address.contains(":") ? AF_INET6 : AF_INET
      /// Sets `value`'s address from the literal and copies it into `storage`; its size, or nil.
      func fill<T>(_ value: T, _ setAddress: (inout T) -> Int32) -> socklen_t? {
        var value = value
        guard setAddress(&value) == 1 else { return nil }
        withUnsafeBytes(of: value) { bytes in
          withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
        }
        return socklen_t(MemoryLayout<T>.size)
      }
      var v6 = sockaddr_in6()
      v6.sin6_family = sa_family_t(AF_INET6)
      v6.sin6_port = port.bigEndian
      var v4 = sockaddr_in()
      v4.sin_family = sa_family_t(AF_INET)
      v4.sin_port = port.bigEndian
      let filled =
        family == AF_INET6
        ? fill(v6) { inet_pton(AF_INET6, address, &$0.sin6_addr) }
        : fill(v4) { inet_pton(AF_INET, address, &$0.sin_addr) }
      guard let length = filled else {
        throw USBIPServerError(description: "\(address) is not an IP address")
      }
      let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
      guard fd >= 0 else {
        throw USBIPServerError(description: "socket: \(String(cString: strerror(errno)))")
      }
      var one: Int32 = 1
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
      let bound = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
      }
      guard bound == 0, listen(fd, 8) == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw USBIPServerError(description: "cannot listen on \(address) port \(port): \(reason)")
      }
      var actual = sockaddr_storage()
      var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
      _ = withUnsafeMutablePointer(to: &actual) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
      }
      let boundPort = withUnsafeBytes(of: actual) { UInt16($0[2]) << 8 | UInt16($0[3]) }
      var fds: [Int32] = [0, 0]
      guard pipe(&fds) == 0 else {
        close(fd)
        throw USBIPServerError(description: "pipe: \(String(cString: strerror(errno)))")
      }
      for end in fds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
      _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
      self.token = token
      self.address = address
      self.port = boundPort
      listener = fd
      wakeRead = fds[0]
      wakeWrite = fds[1]
      self.log = log
      self.trace = trace
    }

    /// The descriptor a signal handler may write one byte to in order to stop ``run()``.
    public var stopDescriptor: Int32 { wakeWrite }

    /// Asks ``run()`` to return; safe from any thread.
    public func stop() {
      var byte: UInt8 = 1
      _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// Whether a client holds the token now.
    public var isAttached: Bool { state.withLock { $0.attached != nil } }

    /// Sends what the token typed to the attached client's interrupt endpoint; dropped when no
    /// client holds the token, as keys typed by an unplugged keyboard go nowhere.
    public func type(_ reports: [KeyboardReport]) {
      state.withLock { state in
        guard let fd = state.attached, let index = state.connections.firstIndex(where: { $0.fd == fd }) else {
          return
        }
        let replies = state.connections[index].session.type(reports)
        if !send(replies, to: fd) { drop(at: index, &state, reason: "the client stopped reading") }
      }
    }

    /// Serves until ``stop()``; then closes every connection (unplugging the token) and the port.
    public func run() {
      defer { finish() }
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        var entries = [
          pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
          pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
        ]
        entries += state.withLock {
          $0.connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        }
        let ready = poll(&entries, nfds_t(entries.count), -1)
        if ready < 0 {
          if errno == EINTR { continue }
          log("USB/IP: poll failed: \(String(cString: strerror(errno)))")
          return
        }
        if entries[0].revents != 0 { return }
        if entries[1].revents != 0 { accept() }
        for entry in entries.dropFirst(2) where entry.revents != 0 {
          let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
          if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
          let bytes = count > 0 ? Array(buffer[0..<count]) : []
          state.withLock { state in
            guard let index = state.connections.firstIndex(where: { $0.fd == entry.fd }) else { return }
            guard count > 0 else {
              return drop(at: index, &state, reason: count == 0 ? "closed" : String(cString: strerror(errno)))
            }
            trace?(state.connections[index].number, bytes)
            do {
              let (replies, event) = try state.connections[index].session.receive(
                bytes, mayAttach: state.attached == nil)
              if event == .attached {
                state.attached = entry.fd
                log("USB/IP: attached to connection \(state.connections[index].number)")
              }
              if !send(replies, to: entry.fd) {
                drop(at: index, &state, reason: "the client stopped reading")
              }
            } catch {
              drop(at: index, &state, reason: "it sent a malformed stream (\(error))")
            }
          }
        }
      }
    }

    private func accept() {
      let fd = Glibc.accept(listener, nil, nil)
      guard fd >= 0 else { return }
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      state.withLock { state in
        guard state.connections.count < Self.maximumConnections else {
          log("USB/IP: refused a connection: \(Self.maximumConnections) already open")
          close(fd)
          return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A client that stops reading must not stall the token for everyone.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        state.accepted += 1
        state.connections.append(
          Connection(fd: fd, number: state.accepted, session: USBIPSession(token: token)))
      }
    }

    /// Writes every reply whole; false if the connection failed.
    private func send(_ replies: [[UInt8]], to fd: Int32) -> Bool {
      for reply in replies {
        var offset = 0
        while offset < reply.count {
          let written = reply.withUnsafeBytes {
            Glibc.send(fd, $0.baseAddress! + offset, reply.count - offset, Int32(MSG_NOSIGNAL))
          }
          if written < 0 && errno == EINTR { continue }
          guard written > 0 else { return false }
          offset += written
        }
      }
      return true
    }

    private func drop(at index: Int, _ state: inout State, reason: String) {
      let connection = state.connections.remove(at: index)
      close(connection.fd)
      if state.attached == connection.fd {
        state.attached = nil
        log("USB/IP: detached from connection \(connection.number): \(reason)")
      } else if reason != "closed" {
        log("USB/IP: dropped connection \(connection.number): \(reason)")
      }
    }

    private func finish() {
      state.withLock { state in
        while !state.connections.isEmpty { drop(at: 0, &state, reason: "the simulator stopped") }
      }
      close(listener)
      close(wakeRead)
      close(wakeWrite)
    }
  }
#endif
