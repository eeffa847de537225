import Testing
import WireVectors

@testable import OTPWire

@Suite struct CRCTests {
  @Test func knownValues() {
    #expect(CRC16.checksum([UInt8](repeating: 0, count: 64)) == 0x5B6B)
    // The check value of CRC-16/X.25 is 0x906E; without the final inversion it is its complement.
    #expect(CRC16.checksum(Array("123456789".utf8)) == ~UInt16(0x906E))
  }

  @Test func complementGivesResidual() {
    for length in [0, 1, 7, 50, 200] {
      let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
      let block = CRC16.appendingComplement(to: data)
      #expect(CRC16.checksum(block) == CRC16.residual)
      var broken = block
      broken[broken.count / 2] ^= 0x01
      #expect(!CRC16.hasValidComplement(broken))
    }
  }
}

@Suite struct TraceEncodingTests {
  @Test func serialCommandMatchesTrace() throws {
    let frame = try Frame(command: .deviceSerial)
    #expect(frame.reports == TraceVectors.reports(TraceVectors.serialCommand))
  }

  @Test func hotpSlotConfigurationMatchesTrace() throws {
    let settings = HOTPSlotSettings(key: TraceVectors.key)
    let config = try settings.configuration()
    #expect(config.bytes[50..<52] == [0x5F, 0xC0])
    let frame = try Frame(command: .configure2, payload: config.commandPayload())
    #expect(frame.reports == TraceVectors.reports(TraceVectors.programSlot2))
  }

  @Test func eightDigitsWithNewAccessCodeMatchesTrace() throws {
    let code = try AccessCode(bytes: [1, 1, 1, 1, 1, 1])
    let settings = HOTPSlotSettings(key: TraceVectors.key, digits: 8, accessCode: code)
    let frame = try Frame(command: .configure2, payload: settings.configuration().commandPayload())
    #expect(frame.reports == TraceVectors.reports(TraceVectors.programSlot2EightDigitsWithAccessCode))
  }

  @Test func deleteWithAccessCodeMatchesTrace() throws {
    let code = try AccessCode(bytes: [1, 1, 1, 1, 1, 1])
    let frame = try Frame(
      command: .configure2, payload: SlotConfiguration.empty.commandPayload(currentAccessCode: code))
    #expect(frame.reports == TraceVectors.reports(TraceVectors.deleteSlot2WithAccessCode))
  }

  @Test func deviceInfoCommandMatchesTrace() throws {
    let frame = try Frame(command: .deviceInfo, payload: [0])
    #expect(frame.reports == TraceVectors.reports(TraceVectors.deviceInfoCommand))
  }

  @Test func configurationDecodesBack() throws {
    let settings = HOTPSlotSettings(
      key: TraceVectors.key, digits: 8, initialMovingFactor: 1_048_560,
      tokenID: HOTPSlotSettings.standardTokenID(serial: 12_345_678), appendCR: false)
    let config = try settings.configuration()
    let decoded = try SlotConfiguration(bytes: config.bytes)
    #expect(decoded == config)
    #expect(decoded.mode == .oathHOTP)
    #expect(HOTPSlotSettings(decoded) == settings)
    #expect(config.uid[4..<6] == [0xFF, 0xFF])
  }

  @Test func invalidSettingsAreRefused() {
    #expect(throws: WireError.self) { try HOTPSlotSettings(key: [1, 2, 3]).configuration() }
    #expect(throws: WireError.self) { try HOTPSlotSettings(key: TraceVectors.key, digits: 7).configuration() }
    #expect(throws: WireError.self) {
      try HOTPSlotSettings(key: TraceVectors.key, initialMovingFactor: 17).configuration()
    }
    #expect(throws: WireError.self) {
      try HOTPSlotSettings(key: TraceVectors.key, initialMovingFactor: 0x100000).configuration()
    }
  }

  @Test func corruptedConfigurationIsRefused() throws {
    var bytes = try HOTPSlotSettings(key: TraceVectors.key).configuration().bytes
    bytes[30] ^= 0x80
    #expect(throws: WireError.badCRC(what: "slot configuration")) { try SlotConfiguration(bytes: bytes) }
    #expect(throws: WireError.self) { try SlotConfiguration(bytes: bytes.dropLast()) }
  }

  @Test func modeSelection() throws {
    var config = try HOTPSlotSettings(key: TraceVectors.key).configuration()
    config.configFlags = .challengeHMAC
    #expect(config.mode == .challengeResponseHMAC)
    config.configFlags = .challengeYubico
    #expect(config.mode == .challengeResponseYubico)
    config.ticketFlags = []
    #expect(config.mode == .staticTicket)
    config.configFlags = []
    #expect(config.mode == .yubicoOTP)
  }
}

/// A small deterministic generator so property tests are repeatable.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

@Suite struct FramePropertyTests {
  /// Random payloads with runs of zeros, so that chunks are skipped in many patterns.
  func randomPayload(_ rng: inout SplitMix64) -> [UInt8] {
    let length = Int.random(in: 0...64, using: &rng)
    return (0..<length).map { _ in Bool.random(using: &rng) ? 0 : UInt8.random(in: 0...255, using: &rng) }
  }

  @Test func splitAndReassembleRoundTrip() throws {
    var rng = SplitMix64(state: 2026)
    for _ in 0..<2000 {
      let payload = randomPayload(&rng)
      let frame = try Frame(
        command: Command(rawValue: UInt8.random(in: 0...255, using: &rng)), payload: payload)
      let reports = frame.reports
      #expect(reports.first?.flagByte == 0x80 && reports.last?.flagByte == 0x89)
      var assembler = FrameAssembler()
      let frames = assembler.feed(reports)
      #expect(frames == [frame])
      #expect(frames.first?.hasValidCRC == true)
    }
  }

  @Test func oneReportAtATimeEqualsAllAtOnce() throws {
    var rng = SplitMix64(state: 7)
    for _ in 0..<500 {
      let frames = try (0..<Int.random(in: 1...4, using: &rng)).map { _ in
        try Frame(command: .configure1, payload: randomPayload(&rng))
      }
      var stream = frames.flatMap(\.reports)
      if Bool.random(using: &rng) { stream.insert(.reset(), at: 0) }
      var whole = FrameAssembler()
      let all = whole.feed(stream)
      var single = FrameAssembler()
      var oneByOne: [Frame] = []
      for report in stream {
        if case .frame(let f) = single.feed(report) { oneByOne.append(f) }
      }
      #expect(all == oneByOne)
      #expect(all == frames)
    }
  }

  @Test func resetDropsAPartialFrame() throws {
    let frame = try Frame(command: .swap, payload: [1, 2, 3])
    var assembler = FrameAssembler()
    let reports = frame.reports
    _ = assembler.feed(reports.dropLast())
    #expect(assembler.feed(.reset(0xFF)) == .reset)
    // The last report alone no longer completes a frame: sequence 0 has not been seen since.
    #expect(assembler.feed(reports.last!) == .ignored)
  }

  @Test func reportsWithoutWriteFlagAreIgnored() throws {
    var assembler = FrameAssembler()
    #expect(assembler.feed(try FeatureReport(bytes: [1, 2, 3, 4, 5, 6, 7, 0x09])) == .ignored)
  }

  @Test func payloadTooLongIsRefused() {
    #expect(throws: WireError.self) { try Frame(command: .swap, payload: [UInt8](repeating: 1, count: 65)) }
    #expect(throws: WireError.self) { try FeatureReport(bytes: [1, 2, 3]) }
  }
}

@Suite struct ResponseTests {
  @Test func serialAnswerMatchesTrace() throws {
    let reports = ResponseEncoder.reports(for: SerialNumber.bytes(12_345_678))
    #expect(reports == TraceVectors.reports(TraceVectors.serialAnswer))
    var assembler = ResponseAssembler()
    var raw: [UInt8]?
    for report in reports { raw = try assembler.feed(report) }
    let data = try ResponseAssembler.data(from: try #require(raw), length: 4)
    #expect(try SerialNumber.decode(data) == 12_345_678)
  }

  @Test func deviceInfoAnswerMatchesTrace() throws {
    let info = DeviceInfo(
      serial: 12_345_678, version: FirmwareVersion(5, 4, 3), formFactor: 1,
      supportedCapabilities: .otp, enabledCapabilities: .otp)
    let reports = ResponseEncoder.reports(for: info.pageBytes)
    #expect(reports == TraceVectors.reports(TraceVectors.deviceInfoAnswer))
    let decoded = try DeviceInfo(pageBytes: info.pageBytes)
    #expect(decoded.serial == 12_345_678 && decoded.version == FirmwareVersion(5, 4, 3))
    #expect(decoded.supportedCapabilities == .otp && decoded.formFactor == 1)
  }

  @Test func brokenResponsesAreRefused() throws {
    let reports = ResponseEncoder.reports(for: Array(repeating: 7, count: 20))
    var assembler = ResponseAssembler()
    _ = try assembler.feed(reports[0])
    #expect(throws: WireError.self) { try assembler.feed(reports[2]) }  // slice skipped
    #expect(throws: WireError.self) {
      try assembler.feed(FeatureReport(data: [0, 0, 0, 0, 0, 0, 0], flags: 0))
    }
    var raw: [UInt8] = []
    var clean = ResponseAssembler()
    for report in reports { if let r = try clean.feed(report) { raw = r } }
    #expect(try ResponseAssembler.data(from: raw, length: 20).count == 20)
    var corrupted = raw
    corrupted[3] ^= 1
    #expect(throws: WireError.badCRC(what: "token response")) {
      try ResponseAssembler.data(from: corrupted, length: 20)
    }
    #expect(throws: WireError.self) { try ResponseAssembler.data(from: Array(raw.dropLast(7)), length: 20) }
    #expect(throws: WireError.self) { try DeviceInfo(pageBytes: [9, 1, 5, 0]) }
  }

  @Test func statusReportRoundTrip() throws {
    let status = StatusReport(
      version: FirmwareVersion(5, 4, 3), programmingSequence: 2, configState: [.slot2Valid, .slot2Touch])
    #expect(status.report.bytes == [0, 5, 4, 3, 2, 0x0A, 0, 0])
    // A real NEO's analog touch level bits are masked away.
    let neo = StatusReport(try FeatureReport(bytes: [0, 3, 2, 0, 7, 0x07, 0x05, 0]))
    #expect(neo.configState == [.slot1Valid, .slot2Valid, .slot1Touch])
  }
}

@Suite struct KeyboardTests {
  @Test func typingMatchesTraceIllustration() throws {
    let reports = try Keyboard.reports(typing: "755224\r")
    let usages: [UInt8] = [0x24, 0x22, 0x22, 0x1F, 0x1F, 0x21, 0x28]
    #expect(reports.count == 14)
    for (index, usage) in usages.enumerated() {
      #expect(reports[2 * index].bytes == [0, 0, usage, 0, 0, 0, 0, 0])
      #expect(reports[2 * index + 1] == .released)
    }
    #expect(try KeyboardDecoder.text(of: reports) == "755224\r")
  }

  @Test func everyTypableCharacterRoundTrips() throws {
    let text = "cbdefghijklnrtuvCBDEFGHIJKLNRTUV0123456789!\t\r"
    #expect(try KeyboardDecoder.text(of: Keyboard.reports(typing: text)) == text)
    #expect(try KeyboardDecoder.text(of: Keyboard.reports(typing: "0159", keypadDigits: true)) == "0159")
    #expect(throws: WireError.self) { try Keyboard.reports(typing: "a") }
  }

  @Test func unknownUsageIsAnError() throws {
    var decoder = KeyboardDecoder()
    #expect(throws: WireError.self) { try decoder.feed(KeyboardReport(modifier: 0, usage: 0x04)) }
  }

  @Test func modhex() {
    #expect(Modhex.encode([0xE1, 0x63]) == "ubhe")
    #expect(Modhex.decode("UBHE") == [0xE1, 0x63])
    #expect(Modhex.decode("ubh") == nil)
    #expect(Modhex.decode("ubha") == nil)
    #expect(HOTPSlotSettings.standardTokenID(serial: 12_345_678) == [0xE1, 0x63, 0x12, 0x34, 0x56, 0x78])
  }
}
