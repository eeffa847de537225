import Foundation
import OTPWire
import OneTimePassword
import Testing
import TokenFirmware
import VirtualHID

@testable import TokenSimulator

@Suite struct InProcessTokenTests {
  @Test func programmedTokenTypesTheRFCCodes() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    #expect(token.serial == 12_345_678)
    #expect((0..<3).map { _ in token.pressAndRead() } == ["755224\r", "287082\r", "359152\r"])
    #expect(token.counter(.two) == 3)
  }

  @Test func everyHandleReceivesEveryInputReport() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    let a = token.openHandle()
    let b = token.openHandle()
    let typed = token.press()
    for handle in [a, b] {
      var received: [KeyboardReport] = []
      while let report = handle.readInput(timeoutMilliseconds: 0) { received.append(report) }
      #expect(received == typed)
    }
    b.close()
    token.press()
    #expect(b.readInput(timeoutMilliseconds: 0) == nil)
    #expect(a.readInput(timeoutMilliseconds: 0) != nil)
  }

  @Test func powerCutDuringAPressLosesTheCodeButNeverRepeatsIt() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    #expect(token.pressAndRead() == "755224\r")
    token.cutPowerDuringNextWrite()
    #expect(token.pressAndRead() == "")
    #expect(token.counter(.two) == 1)
    #expect(token.pressAndRead() == "287082\r")
  }

  @Test func powerCutDuringProgrammingKeepsTheOldSlot() throws {
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey))
    token.cutPowerDuringNextWrite()
    let other = try HOTPSlotSettings(key: Array(repeating: 7, count: 20)).configuration()
    for report in try Frame(command: .configure2, payload: other.commandPayload()).reports {
      token.setFeatureReport(report)
    }
    #expect(StatusReport(token.getFeatureReport()).programmingSequence == 1)
    #expect(token.pressAndRead() == "755224\r")
  }

  @Test func manualClockDrivesTouchTimeouts() throws {
    let token = try SimulatedToken(serial: 1)
    var config = try HOTPSlotSettings(key: Support.rfcKey).configuration()
    config.ticketFlags = [.challengeResponse]
    config.configFlags = [.challengeHMAC, .challengeButtonTrigger]
    for report in try Frame(command: .configure1, payload: config.commandPayload()).reports {
      token.setFeatureReport(report)
    }
    for report in try Frame(command: .challengeHMAC1, payload: [1]).reports { token.setFeatureReport(report) }
    #expect(token.getFeatureReport().flags.contains(.touchWait))
    token.advanceClock(by: .seconds(16))
    #expect(token.getFeatureReport().flags == [])
  }
}

@Suite struct DirectoryStateTests {
  @Test func stateSurvivesARestartAndIsOwnerOnly() throws {
    let dir = Support.temporaryDirectory() + "/state"
    let store = try DirectoryStateStore(directory: dir)
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey), store: store)
    #expect(token.pressAndRead() == "755224\r")
    let again = try SimulatedToken(store: try DirectoryStateStore(directory: dir))
    #expect(again.serial == 12_345_678)
    #expect(again.pressAndRead() == "287082\r")
    let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/state.json")
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    let dirAttributes = try FileManager.default.attributesOfItem(atPath: dir)
    #expect((dirAttributes[.posixPermissions] as? Int) == 0o700)
  }

  @Test func aHalfWrittenFileNeverReplacesTheState() throws {
    let dir = Support.temporaryDirectory()
    let store = try DirectoryStateStore(directory: dir)
    let token = try SimulatedToken.programmed(settings: HOTPSlotSettings(key: Support.rfcKey), store: store)
    token.cutPowerDuringNextWrite()
    #expect(token.pressAndRead() == "")
    #expect(FileManager.default.fileExists(atPath: dir + "/state.json.tmp"))
    let reloaded = try #require(try store.load())
    #expect(reloaded.slot2?.counter == 0)
    #expect(token.pressAndRead() == "755224\r")
  }

  @Test func corruptStateIsAnErrorNotAFreshToken() throws {
    let dir = Support.temporaryDirectory()
    try Data("{\"serial\": 12".utf8).write(to: URL(fileURLWithPath: dir + "/state.json"))
    #expect(throws: StateStoreError.self) {
      try SimulatedToken(store: try DirectoryStateStore(directory: dir))
    }
  }

  @Test func aDifferentSerialForAnExistingTokenIsRefused() throws {
    let dir = Support.temporaryDirectory()
    _ = try SimulatedToken(serial: 5, store: try DirectoryStateStore(directory: dir))
    #expect(throws: StateStoreError.self) {
      try SimulatedToken(serial: 6, store: try DirectoryStateStore(directory: dir))
    }
  }
}
