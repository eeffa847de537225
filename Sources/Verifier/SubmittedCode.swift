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
    let trimmed = text.trimmingWhitespace
    let compact = trimmed.filter { $0 != " " && $0 != "-" }
    if !compact.isEmpty, compact.allSatisfy({ $0.isASCII && $0.isNumber }) {
      guard (6...8).contains(compact.count), let value = UInt32(compact) else {
        throw .invalidInput("a one-time code is 6 to 8 digits")
      }
      self = .digits(OTPCode(value: value, digits: compact.count))
      return
    }
    if let recovery = Self.recovery(trimmed) {
      self = .recovery(recovery)
      return
    }
    throw .invalidInput(Self.expected)
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
