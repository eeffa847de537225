/// A one-time code: a string of 6 to 8 decimal digits. Never an integer, which would lose leading
/// zeros; compared in constant time.
public struct OTPCode: Sendable, Hashable, CustomStringConvertible {
  public static let allowedDigits = 6...8

  /// The digits, leading zeros kept.
  public let text: String
  /// The numeric value.
  public let value: UInt32
  /// The number of digits.
  public var digits: Int { text.utf8.count }

  /// Validates user input: only ASCII digits, 6 to 8 of them.
  public init(_ text: String) throws(OTPError) {
    let utf8 = Array(text.utf8)
    guard OTPCode.allowedDigits.contains(utf8.count) else {
      throw .invalidCode("a code has 6 to 8 digits, this one has \(min(utf8.count, 1_000_000)) characters")
    }
    var value: UInt32 = 0
    for byte in utf8 {
      guard byte >= 0x30 && byte <= 0x39 else { throw .invalidCode("a code has only digits 0-9") }
      value = value * 10 + UInt32(byte - 0x30)
    }
    self.text = text
    self.value = value
  }

  /// The code of a numeric value, zero-padded to `digits`.
  public init(value: UInt32, digits: Int) {
    let plain = String(value)
    text = String(repeating: "0", count: max(0, digits - plain.count)) + plain
    self.value = value
  }

  /// Compares two codes in time that depends only on their lengths.
  public func constantTimeEquals(_ other: OTPCode) -> Bool {
    ConstantTime.equals(Array(text.utf8), Array(other.text.utf8))
  }

  /// Codes are never logged whole: this shows the first two digits only.
  public var description: String { String(text.prefix(2)) + String(repeating: "•", count: digits - 2) }
}

/// Comparisons whose time does not depend on where the inputs differ.
public enum ConstantTime {
  /// Whether `a` and `b` are equal, in time that depends only on their lengths.
  public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<a.count { difference |= a[i] ^ b[i] }
    return difference == 0
  }
}

/// Why an OTP input or parameter was refused.
public enum OTPError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidCode(String)
  case invalidDigits(Int)
  case invalidPeriod(Int)
  case emptySecret
  case invalidBase32(String)

  public var description: String {
    switch self {
    case .invalidCode(let why): return "invalid code: \(why)"
    case .invalidDigits(let d): return "invalid number of digits \(d): use 6, 7 or 8"
    case .invalidPeriod(let p): return "invalid period \(p): must be a positive number of seconds"
    case .emptySecret: return "the secret is empty"
    case .invalidBase32(let why): return "invalid base32 secret: \(why)"
    }
  }
}
