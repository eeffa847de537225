#if os(Linux)
  import Glibc
  import OTPWire
  import Synchronization
  import TokenFirmware
  import TokenSimulator

  /// A simulated token as a real HID device to the kernel, through Linux UHID: the kernel creates
  /// /dev/hidrawN (and a keyboard) for it, exactly as for a token on a USB port, and hosts reach it
  /// with hidapi. Feature reports (SET_REPORT, GET_REPORT) go to the firmware; what it types on a
  /// press goes out as input reports (INPUT2), which are real key presses on the machine.
  ///
  /// One thread runs ``run()``; ``type(_:)`` and ``stop()`` may be called from any thread.
  public final class UHIDFrontEnd: @unchecked Sendable {
    public let token: SimulatedToken
    private let device: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let writeLock = Mutex(())
    private let log: @Sendable (String) -> Void
    private var created = false

    /// Opens /dev/uhid (or `path`); nothing is registered until ``create()``.
    public convenience init(
      token: SimulatedToken, path: String = "/dev/uhid", log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(UHIDError) {
      let fd = open(path, O_RDWR | O_CLOEXEC)
      guard fd >= 0 else {
        let reason = String(cString: strerror(errno))
        switch errno {
        case ENOENT: throw .io("no \(path) (\(reason)): load the module with `modprobe uhid`")
        case EACCES, EPERM: throw .io("cannot open \(path) (\(reason)): UHID is for root only")
        default: throw .io("cannot open \(path): \(reason)")
        }
      }
      try self.init(token: token, descriptor: fd, log: log)
    }

    /// Serves on an open descriptor that reads and writes whole UHID events, and closes it when
    /// done: /dev/uhid, or in tests one end of a SOCK_SEQPACKET socket pair playing the kernel.
    public init(
      token: SimulatedToken, descriptor: Int32, log: @escaping @Sendable (String) -> Void = { _ in }
    )
      throws(UHIDError)
    {
      var fds: [Int32] = [0, 0]
      guard pipe(&fds) == 0 else {
        close(descriptor)
        throw .io("pipe failed: \(String(cString: strerror(errno)))")
      }
      self.token = token
      self.device = descriptor
      self.log = log
      wakeRead = fds[0]
      wakeWrite = fds[1]
      for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// The descriptor a signal handler may write one byte to in order to stop ``run()``.
    public var stopDescriptor: Int32 { wakeWrite }

    /// The name the kernel shows (hidapi's product string): "Yubico YubiKey OTP+FIDO+CCID".
    public var name: String { "\(token.identity.manufacturer) \(token.identity.product)" }

    /// Registers the device with the token's vendor, product, release and the OTP interface's
    /// report descriptor (a boot keyboard plus one 8-byte feature report, no report IDs), on the
    /// USB bus. The serial is not shown on USB, as on a factory token; hosts read it over the protocol.
    public func create() throws(UHIDError) {
      let identity = token.identity
      try write(
        UHIDMessage.create(
          name: name, physical: "otptoken-sim/input0", unique: "",
          descriptor: OTPInterface.reportDescriptor, bus: 0x03, vendor: identity.vendorID,
          product: identity.productID, version: identity.releaseBCD))
      created = true
    }

    /// Sends keyboard reports to the kernel, in order.
    public func type(_ reports: [KeyboardReport]) throws(UHIDError) {
      for report in reports { try write(UHIDMessage.input(report.bytes)) }
    }

    /// Presses the button and types what the token typed; returns the reports.
    @discardableResult
    public func press(_ slot: Slot) throws(UHIDError) -> [KeyboardReport] {
      let reports = token.press(slot)
      try type(reports)
      return reports
    }

    /// Asks ``run()`` to return; safe from any thread.
    public func stop() {
      var byte: UInt8 = 1
      _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// Answers the kernel until ``stop()`` or until the device end closes; then destroys the
    /// device (the kernel removes /dev/hidrawN) and closes the descriptor.
    public func run() {
      defer { finish() }
      var buffer = [UInt8](repeating: 0, count: UHIDMessage.eventSize + 64)
      while true {
        var entries = [
          pollfd(fd: device, events: Int16(POLLIN), revents: 0),
          pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&entries, 2, -1)
        if ready < 0 {
          if errno == EINTR { continue }
          log("poll failed: \(String(cString: strerror(errno)))")
          return
        }
        if entries[1].revents != 0 { return }
        guard entries[0].revents != 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { read(device, $0.baseAddress, $0.count) }
        if count < 0 {
          if errno == EINTR || errno == EAGAIN { continue }
          log("reading the UHID device failed: \(String(cString: strerror(errno)))")
          return
        }
        if count == 0 { return }
        do {
          try handle(UHIDEvent(bytes: Array(buffer[0..<count])))
        } catch {
          // Untrusted bytes: say so and go on; the token is unchanged.
          log("\(error)")
        }
      }
    }

    /// The reply to one event from the kernel, if it needs one.
    func handle(_ event: UHIDEvent) throws(UHIDError) {
      switch event {
      case .start: log("UHID: started")
      case .stop: log("UHID: stopped")
      case .open: log("UHID: opened")
      case .close: log("UHID: closed")
      case .output, .other: break  // keyboard LEDs and events not meant for a device owner
      case .getReport(let id, let number, let type):
        guard type == UHIDReportType.feature.rawValue, number == 0 else {
          return try write(UHIDMessage.getReportReply(id: id, error: UInt16(EIO), data: []))
        }
        // Unnumbered reports travel with a leading report ID of 0.
        try write(UHIDMessage.getReportReply(id: id, error: 0, data: [0] + token.getFeatureReport().bytes))
      case .setReport(let id, let number, let type, let data):
        guard type == UHIDReportType.feature.rawValue, number == 0, data.count == FeatureReport.size + 1,
          data[0] == 0, let report = try? FeatureReport(bytes: Array(data.dropFirst()))
        else {
          log("UHID: refused a SET_REPORT of type \(type), number \(number), \(data.count) bytes")
          return try write(UHIDMessage.setReportReply(id: id, error: UInt16(EINVAL)))
        }
        token.setFeatureReport(report)
        try write(UHIDMessage.setReportReply(id: id, error: 0))
      }
    }

    private func write(_ event: [UInt8]) throws(UHIDError) {
      let written = writeLock.withLock { _ in
        event.withUnsafeBytes { bytes -> Int in
          while true {
            let count = Glibc.write(device, bytes.baseAddress, bytes.count)
            if count < 0 && errno == EINTR { continue }
            return count
          }
        }
      }
      guard written == event.count else {
        throw .io(
          "writing a UHID event failed: \(written < 0 ? String(cString: strerror(errno)) : "short write")")
      }
    }

    private func finish() {
      if created {
        do { try write(UHIDMessage.destroy()) } catch { log("\(error)") }
        created = false
      }
      close(device)
      close(wakeRead)
      close(wakeWrite)
    }
  }
#endif
