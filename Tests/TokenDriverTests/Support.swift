import Foundation
import OTPWire
import TestScratch
import TokenDriver
import TokenSimulator
import TokenTransport

let rfcKey = Array("12345678901234567890".utf8)

/// Wraps a device: records every report that crosses it and injects faults on request.
final class FaultyDevice: HIDDevice {
  enum Fault {
    /// Unplugged after this many SET reports have gone through.
    case unplugAfterSets(Int)
    /// Flip a bit in the first response-data report read.
    case corruptResponse
    /// Replace the second response-data report with a plain status.
    case truncateResponse
  }

  let inner: any HIDDevice
  var fault: Fault?
  private(set) var log: [String] = []
  private var sets = 0
  private var dataReads = 0

  init(_ inner: any HIDDevice, fault: Fault? = nil) {
    self.inner = inner
    self.fault = fault
  }

  var description: DeviceDescription { inner.description }

  /// The SET reports written, as hex.
  var setReports: [String] { log.filter { $0.hasPrefix("SET") }.map { String($0.dropFirst(4)) } }

  func setFeatureReport(_ report: FeatureReport) throws(TransportError) {
    if case .unplugAfterSets(let limit) = fault, sets >= limit { throw .disconnected("unplugged") }
    sets += 1
    log.append("SET " + report.description)
    try inner.setFeatureReport(report)
  }

  func getFeatureReport() throws(TransportError) -> FeatureReport {
    if case .unplugAfterSets(let limit) = fault, sets >= limit { throw .disconnected("unplugged") }
    var report = try inner.getFeatureReport()
    if report.flags.contains(.responsePending) {
      dataReads += 1
      switch fault {
      case .corruptResponse where dataReads == 1:
        var bytes = report.bytes
        bytes[1] ^= 0x01
        report = try! FeatureReport(bytes: bytes)
      case .truncateResponse where dataReads == 2:
        report = FeatureReport(data: [0, 5, 4, 3, 0, 0, 0], flags: 0)
      default: break
      }
    }
    log.append("GET " + report.description)
    return report
  }

  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport? {
    try inner.readInputReport(timeoutMilliseconds: timeoutMilliseconds)
  }
  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError) { try inner.writeOutputReport(bytes) }
  func close() { inner.close() }
}

func temporaryDirectory() -> String { scratchDirectory("driver") }
