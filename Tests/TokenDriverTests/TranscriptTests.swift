import Foundation
import OTPWire
import Testing
import TokenTransport
import WireVectors

@testable import TokenDriver

/// A device that plays a recorded conversation: each GET answers the next recorded report, each
/// SET must be the next recorded write. Any departure is recorded, and the conversation must end
/// where the recording ends.
final class ScriptedDevice: HIDDevice {
  enum Step: Equatable {
    case get(String)
    case set(String)
  }

  private var steps: ArraySlice<Step>
  private(set) var departures: [String] = []
  let description = DeviceDescription(
    kind: .hidraw, path: "scripted", vendorID: 0x1050, productID: 0x0407, release: 0x0543, usagePage: 1,
    usage: 6, serialString: nil, manufacturer: "Yubico", product: "YubiKey")

  init(_ steps: [Step]) { self.steps = steps[...] }

  /// The transcript `Transcripts/NAME.txt`: `GET` and `SET` lines of hex; `#` starts a comment.
  convenience init(transcript name: String) throws {
    let url = try #require(
      Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Transcripts"))
    var steps: [Step] = []
    for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#")
    {
      let bytes = String(line.dropFirst(4))
      #expect([UInt8](hex: bytes)?.count == 8, "\(line)")
      steps.append(line.hasPrefix("GET ") ? .get(bytes) : .set(bytes))
    }
    self.init(steps)
  }

  var finished: Bool { steps.isEmpty }
  var recordedWrites: [String] { steps.compactMap { if case .set(let b) = $0 { b } else { nil } } }

  func setFeatureReport(_ report: FeatureReport) throws(TransportError) {
    guard case .set(let expected) = steps.first, expected == report.description else {
      departures.append("wrote \(report.description), the recording has \(String(describing: steps.first))")
      throw .io("departed from the recording")
    }
    steps.removeFirst()
  }

  func getFeatureReport() throws(TransportError) -> FeatureReport {
    guard case .get(let answer) = steps.first else {
      departures.append("read, the recording has \(String(describing: steps.first))")
      throw .io("departed from the recording")
    }
    steps.removeFirst()
    return try! FeatureReport(bytes: [UInt8](hex: answer)!)
  }

  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport? { nil }
  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError) {}
  func close() {}
}

@Suite struct TranscriptTests {
  @Test func theSerialIsReadExactlyAsRecorded() throws {
    let device = try ScriptedDevice(transcript: "serial")
    let writes = device.recordedWrites
    #expect(Array(writes.prefix(2)) == TraceVectors.serialCommand)
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    #expect(try session.serial() == 12_345_678)
    #expect(device.departures.isEmpty, "\(device.departures)")
    #expect(device.finished)
  }

  @Test func deviceInformationIsReadExactlyAsRecorded() throws {
    let device = try ScriptedDevice(transcript: "device-info")
    #expect(Array(device.recordedWrites.prefix(2)) == TraceVectors.deviceInfoCommand)
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    let info = try session.deviceInfo()
    #expect(info.serial == 12_345_678 && info.version == FirmwareVersion(5, 4, 3))
    #expect(device.departures.isEmpty, "\(device.departures)")
    #expect(device.finished)
  }

  @Test func programmingWritesExactlyTheRecordedReports() throws {
    let device = try ScriptedDevice(transcript: "program-slot2")
    #expect(device.recordedWrites == TraceVectors.programSlot2)
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: TraceVectors.key))
    #expect(session.status.programmingSequence == 1)
    #expect(device.departures.isEmpty, "\(device.departures)")
    #expect(device.finished)
  }

  /// The replay notices a host that writes something else: here an eight-digit configuration
  /// against the six-digit recording.
  @Test func aDifferentWriteIsADeparture() throws {
    let device = try ScriptedDevice(transcript: "program-slot2")
    let session = try TokenSession(device: device, clock: ManualDriverClock())
    #expect(throws: DriverError.self) {
      try session.programHOTP(slot: .two, settings: HOTPSlotSettings(key: TraceVectors.key, digits: 8))
    }
    #expect(device.departures.count == 1)
  }

  /// A recorded answer with one bit flipped fails its CRC: the session says so, it never returns
  /// a wrong serial.
  @Test func aCorruptedAnswerIsRefused() throws {
    let url = try #require(
      Bundle.module.url(forResource: "serial", withExtension: "txt", subdirectory: "Transcripts"))
    let text = try String(contentsOf: url, encoding: .utf8).replacingOccurrences(
      of: "GET 00 bc 61 4e c8 04 00 40", with: "GET 00 bc 61 4f c8 04 00 40")
    let steps = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line -> ScriptedDevice.Step in
      line.hasPrefix("GET ") ? .get(String(line.dropFirst(4))) : .set(String(line.dropFirst(4)))
    }
    let session = try TokenSession(device: ScriptedDevice(steps), clock: ManualDriverClock())
    #expect(throws: DriverError.self) { try session.serial() }
  }
}
