#if os(Linux)
  import Foundation
  import Glibc
  import OTPWire
  import Testing
  import TokenSimulator
  import TokenSimulatorUHID

  /// The kernel's end of /dev/uhid, played by a SOCK_SEQPACKET socket pair (one event per
  /// message, as the character device reads and writes them). Event layouts are written out here
  /// from linux/uhid.h by offset, independently of the C shim the simulator uses.
  final class KernelSide {
    /// sizeof(struct uhid_event): the 4-byte type and a union of 4376 (CREATE2's 4372 bytes,
    /// padded to the 8-byte alignment of UHID_START's 64-bit flags).
    static let eventSize = 4380
    let fd: Int32
    let frontEnd: UHIDFrontEnd
    private let thread: Thread

    init(token: SimulatedToken) throws {
      var fds: [Int32] = [0, 0]
      try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
      fd = fds[0]
      let frontEnd = try UHIDFrontEnd(token: token, descriptor: fds[1])
      self.frontEnd = frontEnd
      thread = Thread { frontEnd.run() }
      thread.start()
    }

    deinit {
      frontEnd.stop()
      close(fd)
    }

    func send(_ event: [UInt8]) {
      _ = event.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next event from the simulator; nil after two seconds without one, or at its end.
    func receive() -> [UInt8]? {
      var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&entry, 1, 2000) == 1 else { return nil }
      var buffer = [UInt8](repeating: 0, count: Self.eventSize * 2)
      let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      return count > 0 ? Array(buffer[0..<count]) : nil
    }

    static func event(_ type: UInt32) -> [UInt8] {
      var bytes = [UInt8](repeating: 0, count: eventSize)
      put(type, at: 0, in: &bytes)
      return bytes
    }

    static func getReport(id: UInt32, number: UInt8 = 0, type: UInt8 = 0) -> [UInt8] {
      var bytes = event(9)
      put(id, at: 4, in: &bytes)
      bytes[8] = number
      bytes[9] = type
      return bytes
    }

    static func setReport(id: UInt32, data: [UInt8], number: UInt8 = 0, type: UInt8 = 0) -> [UInt8] {
      var bytes = event(13)
      put(id, at: 4, in: &bytes)
      bytes[8] = number
      bytes[9] = type
      put(UInt16(data.count), at: 10, in: &bytes)
      bytes.replaceSubrange(12..<12 + data.count, with: data)
      return bytes
    }

    static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
      withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }

    static func get<T: FixedWidthInteger>(_: T.Type, at offset: Int, in bytes: [UInt8]) -> T {
      bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(0) { $0 << 8 | T($1) }
    }

    /// Writes a frame as hosts do: ten SET_REPORTs with the report ID byte 0 first, each answered.
    func write(_ command: Command, _ payload: [UInt8], firstID: UInt32) throws {
      for (index, report) in try Frame(command: command, payload: payload).reports.enumerated() {
        let id = firstID + UInt32(index)
        send(Self.setReport(id: id, data: [0] + report.bytes))
        let reply = try #require(receive())
        #expect(Self.get(UInt32.self, at: 0, in: reply) == 14)
        #expect(Self.get(UInt32.self, at: 4, in: reply) == id)
        #expect(Self.get(UInt16.self, at: 8, in: reply) == 0)
      }
    }

    /// A GET_REPORT of the feature report: the 8 bytes after the leading report ID 0.
    func status(id: UInt32) throws -> [UInt8] {
      send(Self.getReport(id: id))
      let reply = try #require(receive())
      #expect(Self.get(UInt32.self, at: 0, in: reply) == 10)
      #expect(Self.get(UInt32.self, at: 4, in: reply) == id)
      #expect(Self.get(UInt16.self, at: 8, in: reply) == 0)
      #expect(Self.get(UInt16.self, at: 10, in: reply) == 9)
      #expect(reply[12] == 0)
      return Array(reply[13..<21])
    }
  }

  @Suite struct UHIDFrontEndTests {
    static let rfcKey = Array("12345678901234567890".utf8)

    @Test func createRegistersTheOTPInterfaceOnUSB() throws {
      let kernel = try KernelSide(token: try SimulatedToken(serial: 12_345_678))
      try kernel.frontEnd.create()
      let event = try #require(kernel.receive())
      #expect(event.count == KernelSide.eventSize)
      #expect(KernelSide.get(UInt32.self, at: 0, in: event) == 11)  // UHID_CREATE2
      #expect(
        String(decoding: event[4..<132].prefix { $0 != 0 }, as: UTF8.self) == "Yubico YubiKey OTP+FIDO+CCID")
      #expect(String(decoding: event[132..<196].prefix { $0 != 0 }, as: UTF8.self) == "otptoken-sim/input0")
      #expect(event[196] == 0)  // no serial on USB, as shipped
      let descriptor = OTPInterface.reportDescriptor
      #expect(KernelSide.get(UInt16.self, at: 260, in: event) == UInt16(descriptor.count))
      #expect(KernelSide.get(UInt16.self, at: 262, in: event) == 0x03)  // BUS_USB
      #expect(KernelSide.get(UInt32.self, at: 264, in: event) == 0x1050)
      #expect(KernelSide.get(UInt32.self, at: 268, in: event) == 0x0407)
      #expect(KernelSide.get(UInt32.self, at: 272, in: event) == 0x0543)
      #expect(Array(event[280..<280 + descriptor.count]) == descriptor)
    }

    @Test func programStatusAndPressThroughUHIDEvents() throws {
      let token = try SimulatedToken(serial: 12_345_678)
      let kernel = try KernelSide(token: token)
      kernel.send(KernelSide.event(2))  // UHID_START: nothing to answer
      let before = try kernel.status(id: 1)
      #expect(Array(before[1...3]) == [5, 4, 3])  // firmware 5.4.3
      let settings = try HOTPSlotSettings(key: Self.rfcKey).configuration()
      try kernel.write(.configure2, settings.commandPayload(), firstID: 100)
      let after = try kernel.status(id: 200)
      #expect(StatusReport(try FeatureReport(bytes: after)).programmingSequence == 1)
      #expect(token.counter(.two) == 0)

      // A press goes out as bare 8-byte input reports, key down and key up.
      try kernel.frontEnd.press(.two)
      var decoder = KeyboardDecoder()
      while decoder.text.last != "\r", let event = kernel.receive() {
        #expect(KernelSide.get(UInt32.self, at: 0, in: event) == 12)  // UHID_INPUT2
        #expect(KernelSide.get(UInt16.self, at: 4, in: event) == 8)
        try decoder.feed(KeyboardReport(bytes: Array(event[6..<14])))
      }
      #expect(decoder.text == "755224\r")
    }

    @Test func badEventsAreRefusedAndChangeNothing() throws {
      let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Self.rfcKey))
      let stateBefore = token.state
      let kernel = try KernelSide(token: token)
      let report = try Frame(command: .deviceSerial).reports[0].bytes
      let refusals: [(event: [UInt8], error: UInt16, why: String)] = [
        (KernelSide.setReport(id: 1, data: report), UInt16(EINVAL), "8 bytes, no report ID byte"),
        (KernelSide.setReport(id: 2, data: [7] + report), UInt16(EINVAL), "a report ID byte other than 0"),
        (KernelSide.setReport(id: 3, data: [0] + report, type: 1), UInt16(EINVAL), "an output report"),
        (KernelSide.setReport(id: 4, data: [0] + report, number: 2), UInt16(EINVAL), "report number 2"),
      ]
      for refusal in refusals {
        kernel.send(refusal.event)
        let reply = try #require(kernel.receive())
        #expect(KernelSide.get(UInt32.self, at: 0, in: reply) == 14, "\(refusal.why)")
        #expect(KernelSide.get(UInt16.self, at: 8, in: reply) == refusal.error, "\(refusal.why)")
      }
      kernel.send(KernelSide.getReport(id: 5, type: 2))  // an input report: not served
      let reply = try #require(kernel.receive())
      #expect(KernelSide.get(UInt16.self, at: 8, in: reply) == UInt16(EIO))
      #expect(KernelSide.get(UInt16.self, at: 10, in: reply) == 0)

      // Truncated events and a SET_REPORT claiming more than it carries get no answer at all.
      kernel.send([9, 0])
      kernel.send(Array(KernelSide.getReport(id: 6).prefix(9)))
      var oversized = KernelSide.setReport(id: 7, data: [0] + report)
      KernelSide.put(UInt16(5000), at: 10, in: &oversized)
      kernel.send(oversized)
      kernel.send(Array(KernelSide.setReport(id: 8, data: [0] + report).prefix(20)))
      // ...and the simulator goes on: the next good request is the next reply.
      #expect(try kernel.status(id: 9).count == 8)
      #expect(token.state == stateBefore)
      #expect(token.pressAndRead() == "755224\r")
    }

    @Test func stopDestroysTheDeviceAndClosesTheDescriptor() throws {
      let kernel = try KernelSide(token: try SimulatedToken(serial: 12_345_678))
      try kernel.frontEnd.create()
      _ = try #require(kernel.receive())
      kernel.frontEnd.stop()
      let last = try #require(kernel.receive())
      #expect(KernelSide.get(UInt32.self, at: 0, in: last) == 1)  // UHID_DESTROY
      #expect(kernel.receive() == nil)
    }

    @Test func uhidModeKnowsAVirtualMachineFromABareMetalOne() {
      let vm = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr sse2 hypervisor lahf_lm\n"
      let metal =
        "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr sse2 lahf_lm\nmodel name\t: hypervisor-ready CPU\n"
      #expect(VirtualMachineCheck.isVirtualMachine(cpuinfo: vm, dmiVendor: nil))
      #expect(!VirtualMachineCheck.isVirtualMachine(cpuinfo: metal, dmiVendor: "LENOVO\n"))
      #expect(VirtualMachineCheck.isVirtualMachine(cpuinfo: metal, dmiVendor: "QEMU\n"))
      #expect(!VirtualMachineCheck.isVirtualMachine(cpuinfo: metal, dmiVendor: nil))
      #expect(!VirtualMachineCheck.isVirtualMachine(cpuinfo: "", dmiVendor: ""))
    }
  }
#endif
