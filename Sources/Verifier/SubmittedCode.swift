import OneTimePassword

/// A code as a person typed it, normalised once, where it enters the verifier.
///
/// Spaces and dashes inside a digit code are ignored (`755 224`, as phone apps show it). Text made
/// only of digits is never a recovery code, and only text in the recovery format (eight symbols of
/// ``recoveryAlphabet``, at least one a letter, an optional dash or space after the fourth) is
/// tried as one.
public enum SubmittedCode: Sendable, Equatable {
  /// A one-time code of a token or phone app.
  case digits(OTPCode)
  /// A recovery code, lower case, without its dash.
  case recovery(String)

  /// The 32 symbols of recovery codes: lower-case letters and digits without l, o, 0 and 1.
  public static let recoveryAlphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")

  public init(_ text: String) throws(VerifierError) {
    guard text.utf8.count <= 64 else { throw .invalidInput(Self.expected) }
    if let digits = Self.digits(text.utf8) {
      self = .digits(digits)
    } else {
      self = try Self.parsed(text)
    }
  }

  /// The general parse, for text of at most 64 bytes.
  static func parsed(_ text: String) throws(VerifierError) -> SubmittedCode {
    let trimmed = text.trimmingWhitespace
    let compact = trimmed.filter { $0 != " " && $0 != "-" }
    if !compact.isEmpty, compact.allSatisfy({ $0.isASCII && $0.isNumber }) {
      guard (6...8).contains(compact.count), let value = UInt32(compact) else {
        throw .invalidInput("a one-time code is 6 to 8 digits")
      }
      return .digits(OTPCode(value: value, digits: compact.count))
    }
    if let recovery = Self.recovery(trimmed) { return .recovery(recovery) }
    throw .invalidInput(Self.expected)
  }

  /// The common case on bytes, without building characters: 6 to 8 ASCII digits, with spaces
  /// and dashes between them ignored; nil for anything else, which the general parse then judges.
  static func digits(_ bytes: String.UTF8View) -> OTPCode? {
    var value: UInt32 = 0
    var count = 0
    var sawDigit = false
    for byte in bytes {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        guard count < 8 else { return nil }
        value = value * 10 + UInt32(byte - UInt8(ascii: "0"))
        count += 1
        sawDigit = true
      case UInt8(ascii: " "), UInt8(ascii: "-"):
        guard sawDigit else { return nil }
      default: return nil
      }
    }
    guard count >= 6, let last = bytes.last, last != UInt8(ascii: " "), last != UInt8(ascii: "-") else {
      return nil
    }
    return OTPCode(value: value, digits: count)
  }

  static let expected = "not a code: a one-time code is 6 to 8 digits, a recovery code looks like abcd-2345"

  /// The recovery code in `text`, normalised, if `text` is in the recovery format.
  static func recovery(_ text: some StringProtocol) -> String? {
    var symbols = Array(text.lowercased())
    if symbols.count == 9, symbols[4] == "-" || symbols[4] == " " { symbols.remove(at: 4) }
    guard symbols.count == 8, symbols.allSatisfy(recoveryAlphabet.contains),
      symbols.contains(where: \.isLetter)
    else { return nil }
    return String(symbols)
  }
}

extension String {
  var trimmingWhitespace: Substring {
    guard let first = firstIndex(where: { !$0.isWhitespace }),
      let last = lastIndex(where: { !$0.isWhitespace })
    else { return "" }
    return self[first...last]
  }
}
