import Foundation
import OTPWire
import OneTimePassword
import Testing
import TokenFirmware
import TokenSimulator
import TokenTransport
import VirtualHID
import WireVectors

@testable import TokenDriver

@Suite struct TokenSessionTests {
  func session(_ token: SimulatedToken, fault: FaultyDevice.Fault? = nil) throws -> (
    TokenSession, FaultyDevice, ManualDriverClock
  ) {
    let device = FaultyDevice(InProcessBackend.open(token), fault: fault)
    let clock = ManualDriverClock()
    return (try TokenSession(device: device, clock: clock), device, clock)
  }

  @Test func programmingSendsExactlyTheTraceReports() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    let (session, device, clock) = try session(token)
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey))
    // After the session's opening status read, exactly the trace's put_configuration(SLOT.TWO,
    // HotpSlotConfiguration(key)): a status read, one GET before every SET, the confirming status.
    let status0 = "00 05 04 03 00 00 00 00"
    var expected = ["GET " + status0]
    for report in TraceVectors.programSlot2 { expected += ["GET " + status0, "SET " + report] }
    expected.append("GET 00 05 04 03 01 0a 00 00")
    #expect(device.log.first == "GET 00 05 04 03 00 00 00 00")
    #expect(Array(device.log.dropFirst()) == expected)
    #expect(session.status.programmingSequence == 1)
    #expect(clock.sleeps.isEmpty)
    #expect(try session.serial() == 12_345_678)
    let info = try session.deviceInfo()
    #expect(info.serial == 12_345_678 && info.version == FirmwareVersion(5, 4, 3))
  }

  @Test func programsAndReadsPressesInProcess() throws {
    let token = try SimulatedToken(serial: 7)
    let (session, _, _) = try session(token)
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey))
    var codes: [String] = []
    for _ in 0..<3 {
      token.press(.two)
      codes.append(try session.waitForPress(digits: 6).code.text)
    }
    #expect(codes == ["755224", "287082", "359152"])
  }

  @Test func programsAndReadsPressesOverTheSocket() throws {
    let token = try SimulatedToken(serial: 12_345_678, clock: .system)
    let path = temporaryDirectory() + "/token.sock"
    let server = try VirtualHIDServer(socketPath: path, token: token)
    let finished = DispatchSemaphore(value: 0)
    Thread {
      server.run()
      finished.signal()
    }.start()
    defer {
      server.stop()
      finished.wait()
    }
    let discovery = TokenDiscovery(backends: [SocketBackend(paths: [path], searchDirectory: nil)])
    let session = try discovery.select(serial: 12_345_678)
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey))
    let button = try VirtualHIDClient(path: path)
    var codes: [String] = []
    for _ in 0..<3 {
      try button.press(slot: 2)
      codes.append(try session.waitForPress(timeout: .seconds(5)).code.text)
    }
    #expect(codes == ["755224", "287082", "359152"])
  }

  @Test func pressesFromBeforeAreDiscarded() throws {
    let token = try SimulatedToken.programmed(serial: 3, settings: HOTPSlotSettings(key: rfcKey))
    let (session, _, _) = try session(token)
    token.press(.two)  // typed before the caller started waiting: 755224
    token.press(.two)  // 287082
    #expect(try session.discardPendingInput() == 28)
    token.press(.two)
    #expect(try session.waitForPress(digits: 6).code.text == "359152")
    token.press(.two)
    #expect(try session.waitForPress(digits: 6).code.text == "969429")
  }

  @Test func tokenIdentifierIsSplitFromTheCode() throws {
    let token = try SimulatedToken(serial: 12_345_678)
    let (session, _, _) = try session(token)
    let settings = HOTPSlotSettings(
      key: rfcKey, digits: 8, tokenID: HOTPSlotSettings.standardTokenID(serial: 12_345_678))
    try session.programHOTP(slot: .one, settings: settings)
    token.press(.one)
    let reading = try session.waitForPress()
    #expect(reading.tokenID == "ubhe12345678" && reading.code.text == "84755224")
  }

  @Test func pressWithoutEnterEndsAfterAQuietGap() throws {
    let token = try SimulatedToken(serial: 1)
    let (session, _, clock) = try session(token)
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey, appendCR: false))
    token.press(.two)
    #expect(try session.waitForPress(digits: 6).code.text == "755224")
    #expect(clock.now() >= .milliseconds(500))
  }

  @Test func updateDeleteSwapAndChallengeResponse() throws {
    let token = try SimulatedToken(serial: 1)
    let (session, _, _) = try session(token)
    try session.programHOTP(slot: .one, settings: HOTPSlotSettings(key: rfcKey))
    try session.swapSlots()
    #expect(session.status.configState.isValid(.two) && !session.status.configState.isValid(.one))
    var update = try HOTPSlotSettings(key: Array(repeating: 0, count: 20), appendCR: false).configuration()
    update.fixed = Array(repeating: 0, count: 16)
    try session.update(slot: .two, configuration: update)
    token.press(.two)
    #expect(try session.waitForPress(digits: 6).typed == "755224")
    try session.delete(slot: .two)
    #expect(session.status.programmingSequence == 0)

    var hmac = try HOTPSlotSettings(key: Array(repeating: 0x0B, count: 20)).configuration()
    hmac.ticketFlags = [.challengeResponse]
    hmac.configFlags = [.challengeHMAC, .hmacLessThan64]
    try session.configure(slot: .two, configuration: hmac)
    let response = try session.challengeResponse(slot: .two, challenge: Array("Hi There".utf8))
    #expect(response == [UInt8](hex: "b617318655057264e28bc0b6fb378c8ef146be00"))
  }

  @Test func touchTriggeredChallengeIsAnsweredAfterAPress() throws {
    let token = try SimulatedToken(serial: 1)
    let (session, _, _) = try session(token)
    var hmac = try HOTPSlotSettings(key: Array(repeating: 0x0B, count: 20)).configuration()
    hmac.ticketFlags = [.challengeResponse]
    hmac.configFlags = [.challengeHMAC, .hmacLessThan64, .challengeButtonTrigger]
    try session.configure(slot: .one, configuration: hmac)
    var asked = 0
    let response = try session.challengeResponse(slot: .one, challenge: Array("Hi There".utf8)) {
      asked += 1
      token.press(.one)
    }
    #expect(asked == 1)
    #expect(response == [UInt8](hex: "b617318655057264e28bc0b6fb378c8ef146be00"))
  }
}

/// Each failure with the error a person gets.
@Suite struct FailureTableTests {
  func programmedToken() throws -> SimulatedToken {
    try SimulatedToken.programmed(serial: 99, settings: HOTPSlotSettings(key: rfcKey))
  }

  @Test func unpluggedMidWriteReportsNothingWritten() throws {
    let token = try programmedToken()
    let before = token.state
    let device = FaultyDevice(InProcessBackend.open(token), fault: .unplugAfterSets(4))
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    let other = HOTPSlotSettings(key: Array(repeating: 9, count: 20))
    #expect(throws: DriverError.disconnected(operation: "programming slot 2")) {
      try session.programHOTP(slot: .two, settings: other)
    }
    #expect(token.state == before)
  }

  @Test func touchTimeout() throws {
    let token = try SimulatedToken(serial: 1)
    let clock = ManualDriverClock()
    let session = try TokenSession(device: InProcessBackend.open(token), clock: clock)
    var hmac = try HOTPSlotSettings(key: Array(repeating: 0x0B, count: 20)).configuration()
    hmac.ticketFlags = [.challengeResponse]
    hmac.configFlags = [.challengeHMAC, .challengeButtonTrigger]
    try session.configure(slot: .one, configuration: hmac)
    #expect(throws: DriverError.touchTimeout(seconds: 15)) {
      _ = try session.challengeResponse(slot: .one, challenge: [1, 2, 3])
    }
    #expect(clock.now() >= .seconds(15))
    #expect(session.status.flags == [])  // the reset report cancelled the wait
  }

  @Test func refusedWriteNamesTheAccessCode() throws {
    let token = try SimulatedToken(serial: 1)
    let session = try TokenSession(device: InProcessBackend.open(token), clock: ManualDriverClock())
    let code = try AccessCode(bytes: [1, 2, 3, 4, 5, 6])
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey, accessCode: code))
    let error = #expect(throws: DriverError.refused(operation: "programming slot 2")) {
      try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey))
    }
    #expect(error?.description.contains("access code") == true)
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: rfcKey), currentAccessCode: code)
  }

  @Test func corruptedAnswerCRC() throws {
    let device = FaultyDevice(InProcessBackend.open(try programmedToken()), fault: .corruptResponse)
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    #expect(throws: DriverError.badCRC(operation: "reading the serial")) { try session.serial() }
    device.fault = nil
    #expect(try session.serial() == 99)  // the reset report left the token ready
  }

  @Test func truncatedAnswer() throws {
    let device = FaultyDevice(InProcessBackend.open(try programmedToken()), fault: .truncateResponse)
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    #expect(
      throws: DriverError.incompleteResponse(
        operation: "reading the device information", detail: "the answer stopped half-way")
    ) {
      try session.deviceInfo()
    }
  }

  @Test func severalTokensPresent() throws {
    let discovery = TokenDiscovery(
      backends: [InProcessBackend(tokens: [try programmedToken(), try SimulatedToken(serial: 5)])],
      clock: ManualDriverClock())
    let error = #expect(throws: DriverError.self) { try discovery.select() }
    guard case .severalTokens(let list) = error else {
      Issue.record("expected severalTokens, got \(String(describing: error))")
      return
    }
    #expect(list.count == 2 && error!.description.contains("--serial"))
    #expect(try discovery.select(serial: 5).serial() == 5)
    #expect(throws: DriverError.noMatchingToken("serial 6")) { try discovery.select(serial: 6) }
  }

  @Test func noTokenAndPermissionMessages() throws {
    let discovery = TokenDiscovery(backends: [InProcessBackend(tokens: [])], clock: ManualDriverClock())
    #expect(throws: DriverError.noToken) { try discovery.select() }
    let denied = TokenSession.mapped(.permissionDenied(path: "/dev/hidraw3", detail: "EACCES"), "opening")
    #expect(denied == .permissionDenied(path: "/dev/hidraw3"))
    #expect(denied.description.contains("udev") && denied.description.contains("/dev/hidraw3"))
  }

  @Test func noPressTimesOutOnTheInjectedClock() throws {
    let clock = ManualDriverClock()
    let session = try TokenSession(device: InProcessBackend.open(try programmedToken()), clock: clock)
    // The in-process read waits 100 ms of real time per poll; the manual clock counts them.
    #expect(throws: DriverError.noPress(seconds: 1)) { try session.waitForPress(timeout: .seconds(1)) }
  }
}
