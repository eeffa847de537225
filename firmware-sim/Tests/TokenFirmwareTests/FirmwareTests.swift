import Crypto
import Foundation
import OTPWire
import OneTimePassword
import Testing
import WireVectors

@testable import TokenFirmware

/// A platform for tests: manual clock, storage that can fail, keyboard output collected.
final class TestPlatform: TokenPlatform {
  var now: UInt64 = 0
  var stored: NonVolatileState?
  var typed: [KeyboardReport] = []
  var failWrites = false
  var writes = 0

  func uptimeMilliseconds() -> UInt64 { now }
  func persist(_ state: NonVolatileState) throws {
    if failWrites { throw CocoaError(.fileWriteUnknown) }
    writes += 1
    stored = state
  }
  func type(_ reports: [KeyboardReport]) { typed += reports }

  func takeText() throws -> String {
    defer { typed = [] }
    return try KeyboardDecoder.text(of: typed)
  }
}

/// Drives the firmware the way a host library does: reset-free frame writes, then status or data.
struct Host {
  let firmware: TokenFirmware

  func write(_ reports: [FeatureReport]) { for r in reports { firmware.setFeatureReport(r) } }

  func write(_ command: Command, _ payload: [UInt8] = []) throws {
    write(try Frame(command: command, payload: payload).reports)
  }

  func status() -> StatusReport { StatusReport(firmware.getFeatureReport()) }

  /// Reads a data response of `length` bytes, then writes the reset report.
  func readResponse(length: Int) throws -> [UInt8] {
    var assembler = ResponseAssembler()
    for _ in 0..<100 {
      let report = firmware.getFeatureReport()
      guard report.flags.contains(.responsePending) else { continue }
      if let raw = try assembler.feed(report) {
        firmware.setFeatureReport(.reset(0xFF))
        return try ResponseAssembler.data(from: raw, length: length)
      }
    }
    throw WireError.malformedResponse("no response")
  }
}

func hex(_ lines: [String]) -> [FeatureReport] { lines.map { try! FeatureReport(bytes: [UInt8](hex: $0)!) } }

@Suite struct TraceReplayTests {
  let platform = TestPlatform()
  let firmware: TokenFirmware
  var host: Host { Host(firmware: firmware) }

  init() {
    firmware = TokenFirmware(state: .fresh(serial: 12_345_678), platform: platform)
  }

  static let program6 = TraceVectors.programSlot2
  static let program8WithCode = TraceVectors.programSlot2EightDigitsWithAccessCode
  static let delete2 = TraceVectors.deleteSlot2WithAccessCode

  @Test func hostDecisionsFollowTheTrace() throws {
    // Status before anything: 5.4.3, pgmSeq 0, no slot.
    #expect(firmware.getFeatureReport().bytes == [0, 5, 4, 3, 0, 0, 0, 0])

    // get_serial: the data slice and terminator exactly as in the trace.
    host.write(hex(TraceVectors.serialCommand))
    #expect(firmware.getFeatureReport() == hex(TraceVectors.serialAnswer)[0])
    #expect(firmware.getFeatureReport() == hex(TraceVectors.serialAnswer)[1])
    firmware.setFeatureReport(.reset(0xFF))
    #expect(firmware.getFeatureReport().flags == [])

    // Program slot 2: pgmSeq 0 -> 1, slot 2 valid and touch-triggered (0x0a).
    host.write(hex(Self.program6))
    #expect(firmware.getFeatureReport().bytes == [0, 5, 4, 3, 1, 0x0A, 0, 0])

    // Reprogram with 8 digits and a new access code: pgmSeq 2.
    host.write(hex(Self.program8WithCode))
    #expect(firmware.getFeatureReport().bytes == [0, 5, 4, 3, 2, 0x0A, 0, 0])

    // Without the access code: refused, pgmSeq stays 2 (the host's "No data").
    host.write(hex(Self.program6))
    #expect(firmware.getFeatureReport().bytes == [0, 5, 4, 3, 2, 0x0A, 0, 0])
    #expect(firmware.state.slot2?.configuration.configFlags.contains(.oathHOTP8) == true)

    // Delete with the access code: both slots empty, pgmSeq back to 0.
    host.write(hex(Self.delete2))
    #expect(firmware.getFeatureReport().bytes == [0, 5, 4, 3, 0, 0, 0, 0])

    // Device information page 0, as in the trace.
    host.write(hex(TraceVectors.deviceInfoCommand))
    let answer = (0..<5).map { _ in firmware.getFeatureReport() }
    #expect(answer == hex(TraceVectors.deviceInfoAnswer))
  }

  @Test func threePressesTypeTheRFCCodes() throws {
    host.write(hex(Self.program6))
    var typed: [String] = []
    for _ in 0..<3 {
      #expect(firmware.press(.two) != .nothing)
      typed.append(try platform.takeText())
    }
    #expect(typed == ["755224\r", "287082\r", "359152\r"])
    #expect(firmware.press(.one) == .nothing)
    #expect(platform.typed.isEmpty)
  }

  @Test func counterIsDurableBeforeTheCodeLeaves() throws {
    host.write(hex(Self.program6))
    platform.failWrites = true
    #expect(firmware.press(.two) == .storageFailed)
    #expect(platform.typed.isEmpty)
    #expect(firmware.state.slot2?.counter == 0)
    platform.failWrites = false
    // Restart from what storage holds, as after a power cycle.
    let restarted = TokenFirmware(state: try #require(platform.stored), platform: platform)
    #expect(restarted.press(.two) == .typed(counter: 0))
    #expect(try platform.takeText() == "755224\r")
    #expect(platform.stored?.slot2?.counter == 1)
  }

  @Test func refusedFramesChangeNothing() throws {
    host.write(hex(Self.program6))
    let before = firmware.state
    let writes = platform.writes
    // A bad frame CRC.
    var bad = hex(Self.program6)
    bad[7] = try FeatureReport(bytes: [0, 0x03, 0x95, 0x57, 0, 0, 0, 0x89])
    host.write(bad)
    // An unknown command, a scan map (unsupported), and an update of an empty slot.
    try host.write(Command(rawValue: 0x7E), [1, 2, 3])
    try host.write(.scanMap, [UInt8](repeating: 0x63, count: 51))
    try host.write(
      .update1, HOTPSlotSettings(key: Array(repeating: 1, count: 20)).configuration().commandPayload())
    // A configuration whose own CRC is broken.
    var payload = try HOTPSlotSettings(key: Array(repeating: 1, count: 20)).configuration().commandPayload()
    payload[10] ^= 1
    try host.write(.configure1, payload)
    #expect(firmware.state == before)
    #expect(platform.writes == writes)
    #expect(host.status().programmingSequence == 1)
  }

  @Test func tokenIDAndFlagsShapeWhatIsTyped() throws {
    let settings = HOTPSlotSettings(
      key: Array("12345678901234567890".utf8), digits: 8,
      tokenID: HOTPSlotSettings.standardTokenID(serial: 12_345_678), appendCR: false,
      extraTicketFlags: [.tabFirst, .appendTab1])
    try host.write(.configure1, settings.configuration().commandPayload())
    _ = firmware.press(.one)
    #expect(try platform.takeText() == "\tubhe12345678\t84755224")

    var numeric = settings
    numeric.tokenIDEncoding = .numeric
    numeric.tokenID = [0x12, 0xAB]
    numeric.extraTicketFlags = []
    try host.write(.configure1, numeric.configuration().commandPayload())
    _ = firmware.press(.one)
    #expect(try platform.takeText() == "12ln84755224")
  }

  @Test func initialMovingFactorIsTheFirstCounter() throws {
    let settings = HOTPSlotSettings(key: Array("12345678901234567890".utf8), initialMovingFactor: 16)
    try host.write(.configure2, settings.configuration().commandPayload())
    #expect(firmware.press(.two) == .typed(counter: 16))
    let expected = try HOTPGenerator(secret: OTPSecret(bytes: settings.key)).code(counter: 16).text
    #expect(try platform.takeText() == expected + "\r")
  }

  @Test func updateSwapAndAccessCodes() throws {
    let code = try AccessCode(bytes: [9, 8, 7, 6, 5, 4])
    let settings = HOTPSlotSettings(key: Array("12345678901234567890".utf8), accessCode: code)
    try host.write(.configure1, settings.configuration().commandPayload())
    #expect(host.status().programmingSequence == 1)

    // Update: drop APPEND_CR; the wrong access code is refused, the right one accepted.
    var update = try HOTPSlotSettings(key: Array(repeating: 0, count: 20), appendCR: false, accessCode: code)
      .configuration()
    update.fixed = Array(repeating: 0, count: 16)
    try host.write(.update1, update.commandPayload())
    #expect(host.status().programmingSequence == 1)
    try host.write(.update1, update.commandPayload(currentAccessCode: code))
    #expect(host.status().programmingSequence == 2)
    _ = firmware.press(.one)
    #expect(try platform.takeText() == "755224")  // key kept, only flags changed

    // Swap: slot 1's credential moves to slot 2 with its counter.
    try host.write(.swap)
    #expect(host.status().programmingSequence == 3)
    #expect(host.status().configState == [.slot2Valid, .slot2Touch])
    _ = firmware.press(.two)
    #expect(try platform.takeText() == "287082")
  }

  @Test func protectConfig2GuardsSlot2() throws {
    let key = Array("12345678901234567890".utf8)
    var one = try HOTPSlotSettings(key: key).configuration()
    one.ticketFlags.insert(.protectConfig2)
    try host.write(.configure1, one.commandPayload())
    try host.write(.configure2, HOTPSlotSettings(key: key).configuration().commandPayload())
    #expect(firmware.state.slot2 == nil)
  }

  func hmacConfiguration(buttonTrigger: Bool) -> SlotConfiguration {
    let key = Array(repeating: UInt8(0x0B), count: 20)
    var config = try! HOTPSlotSettings(key: key, appendCR: false).configuration()
    config.configFlags =
      buttonTrigger
      ? [.challengeHMAC, .hmacLessThan64, .challengeButtonTrigger] : [.challengeHMAC, .hmacLessThan64]
    config.ticketFlags = [.challengeResponse]
    return config
  }

  @Test func hmacChallengeResponse() throws {
    try host.write(.configure2, hmacConfiguration(buttonTrigger: false).commandPayload())
    #expect(host.status().configState == [.slot2Valid])  // not touch-triggered
    // yubikit pads a challenge not ending in 0 with zeros; HMAC_LT64 strips them again.
    let challenge = Array("Hi There".utf8)
    try host.write(.challengeHMAC2, challenge + Array(repeating: 0, count: 64 - challenge.count))
    let response = try host.readResponse(length: 20)
    // RFC 2202 test case 1.
    #expect(response == [UInt8](hex: "b617318655057264e28bc0b6fb378c8ef146be00"))
    #expect(firmware.press(.two) == .nothing)
  }

  @Test func touchTriggeredChallengeWaitsAndTimesOut() throws {
    try host.write(.configure2, hmacConfiguration(buttonTrigger: true).commandPayload())
    try host.write(.challengeHMAC2, Array("Hi There".utf8) + Array(repeating: 0, count: 56))
    let waiting = host.status()
    #expect(waiting.flags.contains(.touchWait) && waiting.flags.sequence == 15)
    platform.now += 14_000
    #expect(host.status().flags.sequence == 1)
    #expect(firmware.press(.one) == .answeredChallenge)
    #expect(try host.readResponse(length: 20) == [UInt8](hex: "b617318655057264e28bc0b6fb378c8ef146be00"))

    try host.write(.challengeHMAC2, Array("Hi There".utf8) + Array(repeating: 0, count: 56))
    platform.now += 15_000
    #expect(host.status().flags == [])  // timed out: a plain status, the host's TimeoutError
    #expect(firmware.press(.two) == .nothing)
  }

  @Test func bothResetReportsAbortAResponse() throws {
    for reset: UInt8 in [0x8F, 0xFF] {
      try host.write(.deviceSerial)
      #expect(firmware.getFeatureReport().flags.contains(.responsePending))
      firmware.setFeatureReport(.reset(reset))
      #expect(firmware.getFeatureReport().flags == [])
    }
  }

  @Test func randomReportsNeverCrashOrChangeStateWithoutACRC() throws {
    var rng = SystemRandomNumberGenerator()
    host.write(hex(Self.program6))
    let before = firmware.state
    for _ in 0..<20_000 {
      let bytes = (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }
      firmware.setFeatureReport(try FeatureReport(bytes: bytes))
      _ = firmware.getFeatureReport()
    }
    // A random frame passes the 16-bit frame CRC and a configuration CRC only by rare chance;
    // the state must be the same unless both happened, which the odds rule out here.
    #expect(firmware.state == before)
  }
}
