/// Token-side encoding of a data response: `data ‖ ~CRC16(data)` cut into 7-byte slices with
/// flags 0x40|slice, followed by an all-zero terminator with flags 0x40.
public enum ResponseEncoder {
  /// The reports a token answers with, in order, terminator included.
  public static func reports(for data: [UInt8]) -> [FeatureReport] {
    var block = CRC16.appendingComplement(to: data)
    let padding = (7 - block.count % 7) % 7
    block += [UInt8](repeating: 0, count: padding)
    var out: [FeatureReport] = []
    for slice in 0..<(block.count / 7) {
      out.append(
        FeatureReport(data: block[(slice * 7)..<(slice * 7 + 7)], flags: 0x40 | UInt8(slice)))
    }
    out.append(FeatureReport(data: [UInt8](repeating: 0, count: 7), flags: 0x40))
    return out
  }
}

/// Host-side collection of a data response, report by report.
///
/// Reports with the response flag are appended while their slice numbers count up from 0; a
/// response-flagged report with slice 0 after data ends the response.
public struct ResponseAssembler: Sendable {
  /// The largest response accepted (device information pages are the longest, under 256 bytes).
  public static let maximumLength = 512

  private(set) var bytes: [UInt8] = []
  private var expectedSlice = 0

  public init() {}

  /// Whether data has started arriving.
  public var hasData: Bool { !bytes.isEmpty }

  /// Feeds one report carrying the response flag; returns the raw bytes (data, CRC and padding)
  /// when the terminator arrives, nil while more are expected.
  public mutating func feed(_ report: FeatureReport) throws(WireError) -> [UInt8]? {
    guard report.flags.contains(.responsePending) else {
      throw .malformedResponse("report without the response flag in the middle of a response")
    }
    let slice = report.flags.sequence
    if slice == 0 && !bytes.isEmpty { return bytes }
    guard slice == expectedSlice else {
      throw .malformedResponse("slice \(slice) where \(expectedSlice) was expected")
    }
    guard bytes.count + 7 <= Self.maximumLength else {
      throw .malformedResponse("longer than \(Self.maximumLength) bytes")
    }
    bytes += report.data
    expectedSlice += 1
    return nil
  }

  /// The first `length` data bytes of a complete response whose CRC covers exactly them, as ykpers
  /// checks it: the raw length must be (length + 2) rounded up to a multiple of 7.
  public static func data(from raw: [UInt8], length: Int) throws(WireError) -> [UInt8] {
    let needed = ((length + 2 + 6) / 7) * 7
    guard raw.count == needed else {
      throw .malformedResponse("\(raw.count) bytes where \(needed) were expected")
    }
    guard CRC16.hasValidComplement(raw[0..<(length + 2)]) else {
      throw .badCRC(what: "token response")
    }
    return Array(raw[0..<length])
  }
}
