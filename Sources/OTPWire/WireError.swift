/// Why bytes from a token, or meant for one, could not be decoded or encoded.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A field had the wrong length.
  case wrongLength(field: String, expected: Int, actual: Int)
  /// A CRC did not check out.
  case badCRC(what: String)
  /// A value was out of its allowed range.
  case outOfRange(field: String, detail: String)
  /// A response broke the reporting rules (missing data flag, slices out of order, too long).
  case malformedResponse(String)
  /// A character has no key on the token's keyboard map, or a report is no key press.
  case unknownKey(String)

  public var description: String {
    switch self {
    case .wrongLength(let field, let expected, let actual):
      return "\(field) must be \(expected) bytes, got \(actual)"
    case .badCRC(let what): return "bad CRC in \(what)"
    case .outOfRange(let field, let detail): return "\(field) out of range: \(detail)"
    case .malformedResponse(let detail): return "malformed response: \(detail)"
    case .unknownKey(let detail): return "unknown key: \(detail)"
    }
  }
}
