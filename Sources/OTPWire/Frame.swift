/// The 70-byte command frame: 64 payload bytes, the command code, the CRC-16 of the payload
/// (little-endian, not complemented) and 3 zero filler bytes. It travels as ten 7-byte chunks.
public struct Frame: Sendable, Hashable {
  /// Frame size in bytes.
  public static let size = 70
  /// Payload size in bytes.
  public static let payloadSize = 64
  /// Number of feature reports a frame is cut into.
  public static let reportCount = 10

  /// The 64 payload bytes.
  public let payload: [UInt8]
  /// The command code.
  public let command: Command
  /// The CRC carried in the frame (equal to the payload's CRC for frames built here).
  public let crc: UInt16

  /// A frame for `command` with `payload` zero-padded to 64 bytes.
  public init(command: Command, payload: [UInt8] = []) throws(WireError) {
    guard payload.count <= Self.payloadSize else {
      throw .outOfRange(field: "frame payload", detail: "\(payload.count) bytes, at most 64")
    }
    let padded = payload + [UInt8](repeating: 0, count: Self.payloadSize - payload.count)
    self.payload = padded
    self.command = command
    self.crc = CRC16.checksum(padded)
  }

  /// A frame from its 70 raw bytes, as a token reassembles it; the CRC is kept, not checked.
  public init(bytes: [UInt8]) throws(WireError) {
    guard bytes.count == Self.size else {
      throw .wrongLength(field: "frame", expected: Self.size, actual: bytes.count)
    }
    payload = Array(bytes[0..<64])
    command = Command(rawValue: bytes[64])
    crc = UInt16(bytes[65]) | UInt16(bytes[66]) << 8
  }

  /// Whether the carried CRC matches the payload.
  public var hasValidCRC: Bool { CRC16.checksum(payload) == crc }

  /// The 70 bytes of the frame.
  public var bytes: [UInt8] {
    payload + [command.rawValue, UInt8(crc & 0xFF), UInt8(crc >> 8), 0, 0, 0]
  }

  /// The feature reports the host writes: chunk i with flag 0x80|i, all-zero chunks skipped
  /// except the first and the last.
  public var reports: [FeatureReport] {
    let all = bytes
    var out: [FeatureReport] = []
    for sequence in 0..<Self.reportCount {
      let chunk = all[(sequence * 7)..<(sequence * 7 + 7)]
      if sequence == 0 || sequence == Self.reportCount - 1 || chunk.contains(where: { $0 != 0 }) {
        out.append(FeatureReport(data: chunk, flags: 0x80 | UInt8(sequence)))
      }
    }
    return out
  }
}

/// Token-side reassembly of written feature reports into frames.
///
/// Sequence 0 clears the buffer (so skipped chunks read as zero), sequence 9 completes the frame,
/// and a sequence of 10 or more is a reset. A report without the write flag is ignored.
public struct FrameAssembler: Sendable {
  /// What one written report meant.
  public enum Event: Sendable, Equatable {
    /// The report was stored; the frame is not complete yet.
    case stored
    /// The last report arrived: here is the frame (its CRC is not checked yet).
    case frame(Frame)
    /// A reset report: pending responses and partial frames are dropped.
    case reset
    /// A report that is no write (write flag clear); nothing changed.
    case ignored
  }

  private var buffer = [UInt8](repeating: 0, count: Frame.size)
  private var started = false

  public init() {}

  /// Feeds one written report.
  public mutating func feed(_ report: FeatureReport) -> Event {
    let flag = report.flagByte
    guard flag & 0x80 != 0 else { return .ignored }
    let sequence = Int(flag & 0x7F)
    if sequence >= Frame.reportCount {
      buffer = [UInt8](repeating: 0, count: Frame.size)
      started = false
      return .reset
    }
    if sequence == 0 {
      buffer = [UInt8](repeating: 0, count: Frame.size)
      started = true
    }
    guard started else { return .ignored }
    buffer.replaceSubrange((sequence * 7)..<(sequence * 7 + 7), with: report.data)
    guard sequence == Frame.reportCount - 1 else { return .stored }
    started = false
    // The buffer is always 70 bytes, so this cannot fail.
    let frame = try! Frame(bytes: buffer)
    return .frame(frame)
  }

  /// Feeds several reports and returns the frames completed among them, in order.
  public mutating func feed(_ reports: some Sequence<FeatureReport>) -> [Frame] {
    var frames: [Frame] = []
    for report in reports {
      if case .frame(let frame) = feed(report) { frames.append(frame) }
    }
    return frames
  }
}
