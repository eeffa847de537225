import OTPWire

/// A trace recorded from Yubico's host library (yubikit 5.9.2) driving a token: the SET reports
/// it wrote for each command, in order, and the answers of the trace's token. Shared by the codec,
/// firmware and driver tests.
public enum TraceVectors {
  public static let key = [UInt8]("12345678901234567890".utf8)

  public static let serialCommand = ["00 00 00 00 00 00 00 80", "00 10 6b 5b 00 00 00 89"]

  public static let programSlot2 = [
    "00 00 00 00 00 00 00 80", "00 00 37 38 39 30 00 82", "00 31 32 33 34 35 36 83",
    "37 38 39 30 31 32 33 84", "34 35 36 00 00 00 00 85", "00 00 00 34 60 40 00 86",
    "00 5f c0 00 00 00 00 87", "00 03 95 56 00 00 00 89",
  ]

  public static let programSlot2EightDigitsWithAccessCode = [
    "00 00 00 00 00 00 00 80", "00 00 37 38 39 30 00 82", "00 31 32 33 34 35 36 83",
    "37 38 39 30 31 32 33 84", "34 35 36 01 01 01 01 85", "01 01 00 34 60 42 00 86",
    "00 93 da 00 00 00 00 87", "00 03 95 56 00 00 00 89",
  ]

  public static let deleteSlot2WithAccessCode = [
    "00 00 00 00 00 00 00 80", "00 00 00 01 01 01 01 87", "01 01 00 00 00 00 00 88",
    "00 03 1f f4 00 00 00 89",
  ]

  public static let deviceInfoCommand = ["00 00 00 00 00 00 00 80", "00 13 6b 5b 00 00 00 89"]

  /// The answers of the trace's fake token.
  public static let serialAnswer = ["00 bc 61 4e c8 04 00 40", "00 00 00 00 00 00 00 40"]
  public static let deviceInfoAnswer = [
    "16 01 02 00 01 02 04 40", "00 bc 61 4e 03 02 00 41", "01 04 01 01 05 03 05 42",
    "04 03 8e 69 00 00 00 43", "00 00 00 00 00 00 00 40",
  ]

  /// The RFC 4226 test key, "12345678901234567890".
  public static let rfcKey = key

  public static func reports(_ lines: [String]) -> [FeatureReport] {
    lines.map { try! FeatureReport(bytes: [UInt8](hex: $0)!) }
  }
}
