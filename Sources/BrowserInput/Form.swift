import Foundation

/// An `application/x-www-form-urlencoded` body, as browsers send forms: `a=1&b=x+y%21`. Names and
/// values are percent-decoded, `+` is a space; a malformed escape or invalid UTF-8 makes the whole
/// form unreadable rather than half read. The last of repeated names wins.
public struct Form: Sendable, Equatable {
  public let fields: [String: String]

  public subscript(_ name: String) -> String? { fields[name] }

  /// The trimmed value, nil when missing or empty.
  public func text(_ name: String) -> String? {
    guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
      return nil
    }
    return value
  }

  public init(fields: [String: String]) { self.fields = fields }

  /// nil when the body is not a readable form.
  public init?(_ bytes: some Collection<UInt8>) {
    var fields: [String: String] = [:]
    for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
      let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
      guard let name = Self.decode(parts[0]), let value = parts.count > 1 ? Self.decode(parts[1]) : ""
      else { return nil }
      fields[name] = value
    }
    self.fields = fields
  }

  static func decode(_ bytes: some Collection<UInt8>) -> String? {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = bytes.startIndex
    while index != bytes.endIndex {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: "+"): out.append(UInt8(ascii: " "))
      case UInt8(ascii: "%"):
        let high = bytes.index(after: index)
        guard high != bytes.endIndex else { return nil }
        let low = bytes.index(after: high)
        guard low != bytes.endIndex, let h = hex(bytes[high]), let l = hex(bytes[low]) else { return nil }
        out.append(h << 4 | l)
        index = low
      default: out.append(byte)
      }
      index = bytes.index(after: index)
    }
    return String(validating: out, as: UTF8.self)
  }

  static func hex(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
