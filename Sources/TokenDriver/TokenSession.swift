import Foundation
import OTPWire
import OneTimePassword
import TokenTransport

/// A conversation with one token over the OTP HID protocol, run the way Yubico's host libraries run
/// it: before each written report wait until the token clears the write flag; after the last one
/// read the answer (response slices, or a status whose programming sequence tells whether a write
/// was accepted); write the reset report after a response; honour touch waits with a deadline.
/// All waiting goes through the injected clock.
public final class TokenSession {
  public let device: any HIDDevice
  public let clock: any DriverClock
  /// The status read last.
  public private(set) var status: StatusReport

  /// Pause between polls while the token is busy (yubikit: 20 ms).
  public var busyPoll: Duration = .milliseconds(20)
  /// Pause between polls while the token waits for a touch (yubikit: 100 ms).
  public var touchPoll: Duration = .milliseconds(100)
  /// How long to wait for the write flag to clear (yubikit: 20 × 50 ms).
  public var writeWait: Duration = .seconds(1)
  /// How long a busy token may take to answer (ykpers allows 1150 ms for a slow swap).
  public var answerWait: Duration = .milliseconds(1500)
  /// How long to wait for a touch the token asked for.
  public var touchWait: Duration = .seconds(15)

  /// Opens a session: reads the status once (firmware version, programming sequence).
  public init(device: any HIDDevice, clock: any DriverClock = SystemDriverClock()) throws(DriverError) {
    self.device = device
    self.clock = clock
    status = StatusReport(try Self.get(device, "reading the status"))
  }

  /// The kind and path of the device, for messages.
  public var deviceDescription: DeviceDescription { device.description }

  // MARK: Commands

  /// Reads the status report (no command is sent).
  @discardableResult
  public func readStatus() throws(DriverError) -> StatusReport {
    status = StatusReport(try Self.get(device, "reading the status"))
    return status
  }

  /// The serial number (command 0x10).
  public func serial() throws(DriverError) -> UInt32 {
    let data = try transactData(.deviceSerial, [], length: 4, operation: "reading the serial")
    do { return try SerialNumber.decode(data) } catch {
      throw .incompleteResponse(operation: "reading the serial", detail: "\(error)")
    }
  }

  /// Device information page 0 (command 0x13, firmware 4.1 and later).
  public func deviceInfo() throws(DriverError) -> DeviceInfo {
    let operation = "reading the device information"
    let raw = try transactRaw(.deviceInfo, [0], operation: operation)
    guard let length = raw.first, Int(length) + 3 <= raw.count else {
      throw .incompleteResponse(operation: operation, detail: "shorter than its length byte")
    }
    guard CRC16.hasValidComplement(raw[0..<(Int(length) + 3)]) else { throw .badCRC(operation: operation) }
    do { return try DeviceInfo(pageBytes: Array(raw[0..<(Int(length) + 1)])) } catch {
      throw .incompleteResponse(operation: operation, detail: "\(error)")
    }
  }

  /// Programs an OATH-HOTP credential into `slot` (command 0x01/0x03). Returns only once the
  /// token has confirmed the write by moving its programming sequence.
  public func programHOTP(
    slot: Slot, settings: HOTPSlotSettings, currentAccessCode: AccessCode = .none
  ) throws(DriverError) {
    let configuration: SlotConfiguration
    do { configuration = try settings.configuration() } catch { throw .invalidArgument("\(error)") }
    try writeConfiguration(.configure(slot), configuration, currentAccessCode, "programming slot \(slot)")
  }

  /// Writes a whole configuration to `slot`.
  public func configure(
    slot: Slot, configuration: SlotConfiguration, currentAccessCode: AccessCode = .none
  ) throws(DriverError) {
    try writeConfiguration(.configure(slot), configuration, currentAccessCode, "programming slot \(slot)")
  }

  /// Changes the updatable flags (and the access code) of a slot that allows updates.
  public func update(
    slot: Slot, configuration: SlotConfiguration, currentAccessCode: AccessCode = .none
  ) throws(DriverError) {
    try writeConfiguration(.update(slot), configuration, currentAccessCode, "updating slot \(slot)")
  }

  /// Deletes a slot's configuration (an all-zero configuration).
  public func delete(slot: Slot, currentAccessCode: AccessCode = .none) throws(DriverError) {
    try writeConfiguration(.configure(slot), .empty, currentAccessCode, "deleting slot \(slot)")
  }

  /// Exchanges the two slots.
  public func swapSlots() throws(DriverError) {
    _ = try transact(.swap, [], operation: "swapping the slots")
  }

  /// HMAC-SHA1 challenge-response (command 0x30/0x38). The challenge is padded as yubikit pads
  /// it; `onTouchNeeded` runs once if the token waits for a touch.
  public func challengeResponse(
    slot: Slot, challenge: [UInt8], onTouchNeeded: () -> Void = {}
  ) throws(DriverError) -> [UInt8] {
    guard challenge.count <= 64 else { throw .invalidArgument("a challenge is at most 64 bytes") }
    let pad: UInt8 = challenge.last == 0 ? 1 : 0
    let padded = challenge + [UInt8](repeating: pad, count: 64 - challenge.count)
    return try transactData(
      .challengeHMAC(slot), padded, length: 20, operation: "challenge-response on slot \(slot)",
      onTouchNeeded: onTouchNeeded)
  }

  // MARK: Reading presses

  /// What a press typed, split into the token identifier and the code.
  public struct PressReading: Sendable, Equatable {
    /// Everything typed, Enter and tabs included.
    public let typed: String
    /// The token identifier prefix, empty if none.
    public let tokenID: String
    public let code: OTPCode
  }

  /// Waits for the button to be pressed and decodes what the token types: keyboard reports until
  /// Enter, or until the typing pauses for `quietGap` (tokens without APPEND_CR). `digits`, if
  /// known, says where the token identifier ends.
  public func waitForPress(
    timeout: Duration = .seconds(30), digits: Int? = nil, quietGap: Duration = .milliseconds(500)
  ) throws(DriverError) -> PressReading {
    var decoder = KeyboardDecoder()
    let start = clock.now()
    var lastKey = start
    let step = Duration.milliseconds(100)
    while true {
      let now = clock.now()
      if decoder.text.isEmpty && now - start >= timeout {
        throw .noPress(seconds: Int(timeout.components.seconds))
      }
      if !decoder.text.isEmpty && now - lastKey >= quietGap { break }
      let report: KeyboardReport?
      do { report = try device.readInputReport(timeoutMilliseconds: 100) } catch {
        throw Self.mapped(error, "waiting for a press")
      }
      if let report {
        do { try decoder.feed(report) } catch { throw .unreadablePress("\(error)") }
        if report.keys.isEmpty == false { lastKey = clock.now() }
        if decoder.endsWithEnter { break }
      } else if clock.now() - now < step {
        clock.sleep(for: step - (clock.now() - now))
      }
    }
    return try Self.parse(typed: decoder.text, digits: digits)
  }

  /// Drops keyboard input already waiting (presses from before, say, the slot was reprogrammed,
  /// which typed codes of the old secret). Returns how many reports were dropped.
  @discardableResult
  public func discardPendingInput() throws(DriverError) -> Int {
    var dropped = 0
    while dropped < 10_000 {
      let report: KeyboardReport?
      do { report = try device.readInputReport(timeoutMilliseconds: 0) } catch {
        throw Self.mapped(error, "reading the keyboard")
      }
      guard report != nil else { break }
      dropped += 1
    }
    return dropped
  }

  /// Splits typed text into token identifier and code.
  public static func parse(typed: String, digits: Int? = nil) throws(DriverError) -> PressReading {
    let text = typed.filter { $0 != "\r" && $0 != "\t" }
    let length: Int
    if let digits {
      length = digits
    } else if text.count <= 8 {
      length = text.count
    } else if [6, 8].contains(text.count - 12) {
      length = text.count - 12  // the standard 12-character token identifier
    } else {
      length = 6
    }
    guard text.count >= length else {
      throw .unreadablePress("\(text.count) characters, fewer than \(length) digits")
    }
    let code: OTPCode
    do { code = try OTPCode(String(text.suffix(length))) } catch { throw .unreadablePress("\(error)") }
    return PressReading(typed: typed, tokenID: String(text.dropLast(length)), code: code)
  }

  // MARK: The handshake

  private func writeConfiguration(
    _ command: Command, _ configuration: SlotConfiguration, _ accessCode: AccessCode, _ operation: String
  ) throws(DriverError) {
    _ = try transact(
      command, configuration.commandPayload(currentAccessCode: accessCode), operation: operation)
  }

  private func transactData(
    _ command: Command, _ payload: [UInt8], length: Int, operation: String, onTouchNeeded: () -> Void = {}
  ) throws(DriverError) -> [UInt8] {
    let raw = try transactRaw(command, payload, operation: operation, onTouchNeeded: onTouchNeeded)
    do { return try ResponseAssembler.data(from: raw, length: length) } catch {
      if case .badCRC = error { throw .badCRC(operation: operation) }
      throw .incompleteResponse(operation: operation, detail: "\(error)")
    }
  }

  private func transactRaw(
    _ command: Command, _ payload: [UInt8], operation: String, onTouchNeeded: () -> Void = {}
  ) throws(DriverError) -> [UInt8] {
    switch try transact(command, payload, operation: operation, onTouchNeeded: onTouchNeeded) {
    case .data(let raw): return raw
    case .status: throw .refused(operation: operation)
    }
  }

  private enum Answer {
    case data([UInt8])
    case status(StatusReport)
  }

  /// Sends one command frame and reads its answer.
  private func transact(
    _ command: Command, _ payload: [UInt8], operation: String, onTouchNeeded: () -> Void = {}
  ) throws(DriverError) -> Answer {
    let frame: Frame
    do { frame = try Frame(command: command, payload: payload) } catch { throw .invalidArgument("\(error)") }
    let before = try readStatus().programmingSequence
    for report in frame.reports {
      try awaitReadyToWrite(operation)
      do { try device.setFeatureReport(report) } catch { throw Self.mapped(error, operation) }
    }
    return try readAnswer(after: before, operation: operation, onTouchNeeded: onTouchNeeded)
  }

  private func awaitReadyToWrite(_ operation: String) throws(DriverError) {
    let deadline = clock.now() + writeWait
    while true {
      let report = try Self.get(device, operation)
      if report.flagByte & ReportFlags.writePending.rawValue == 0 { return }
      guard clock.now() < deadline else { throw .tokenBusy(operation: operation) }
      clock.sleep(for: .milliseconds(50))
    }
  }

  private func readAnswer(after before: UInt8, operation: String, onTouchNeeded: () -> Void)
    throws(DriverError)
    -> Answer
  {
    var assembler = ResponseAssembler()
    var sawTouch = false
    var deadline = clock.now() + answerWait
    while true {
      let report = try Self.get(device, operation)
      let flags = report.flags
      if flags.contains(.responsePending) {
        do {
          if let raw = try assembler.feed(report) {
            try reset(operation)
            return .data(raw)
          }
        } catch {
          try? reset(operation)
          throw .incompleteResponse(operation: operation, detail: "\(error)")
        }
        continue
      }
      if report.flagByte == 0 {
        guard !assembler.hasData else {
          throw .incompleteResponse(operation: operation, detail: "the answer stopped half-way")
        }
        status = StatusReport(report)
        if Self.sequenceMoved(from: before, to: status) { return .status(status) }
        if sawTouch { throw .touchTimeout(seconds: Int(touchWait.components.seconds)) }
        throw .refused(operation: operation)
      }
      if flags.contains(.touchWait) {
        if !sawTouch {
          sawTouch = true
          deadline = clock.now() + touchWait
          onTouchNeeded()
        }
        guard clock.now() < deadline else {
          try? reset(operation)
          throw .touchTimeout(seconds: Int(touchWait.components.seconds))
        }
        clock.sleep(for: touchPoll)
      } else {
        guard clock.now() < deadline else {
          try? reset(operation)
          throw .tokenBusy(operation: operation)
        }
        clock.sleep(for: busyPoll)
      }
    }
  }

  private func reset(_ operation: String) throws(DriverError) {
    do { try device.setFeatureReport(.reset(ReportFlags.resetYubikit)) } catch {
      throw Self.mapped(error, operation)
    }
  }

  /// Whether the programming sequence shows an accepted write: +1, or 0 once both slots are empty
  /// (255 wraps to 1, as the simulator does).
  static func sequenceMoved(from before: UInt8, to status: StatusReport) -> Bool {
    let after = status.programmingSequence
    if after == before &+ 1 || (before == 255 && after == 1) { return true }
    return after == 0 && before > 0 && !status.configState.isValid(.one) && !status.configState.isValid(.two)
  }

  private static func get(_ device: any HIDDevice, _ operation: String) throws(DriverError) -> FeatureReport {
    do { return try device.getFeatureReport() } catch { throw mapped(error, operation) }
  }

  static func mapped(_ error: TransportError, _ operation: String) -> DriverError {
    switch error {
    case .disconnected, .notFound: return .disconnected(operation: operation)
    case .permissionDenied(let path, _): return .permissionDenied(path: path)
    case .busy(let path, _): return .busy(path: path)
    case .badReport(let detail): return .incompleteResponse(operation: operation, detail: detail)
    case .io: return .transport(error)
    }
  }
}
