/// A shared OTP secret. Its bytes never appear in descriptions, logs or debug output.
public struct OTPSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
  public let bytes: [UInt8]

  public init(bytes: [UInt8]) { self.bytes = bytes }

  /// A fresh secret from the system's cryptographically secure generator (getrandom on Linux).
  public static func random(count: Int = 20) -> OTPSecret {
    var generator = SystemRandomNumberGenerator()
    return OTPSecret(bytes: (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
  }

  /// The secret from base32 text (spaces, dashes, lower case and missing padding accepted).
  public init(base32: String) throws(OTPError) {
    bytes = try Base32.decode(base32)
  }

  /// The secret as unpadded base32.
  public var base32: String { Base32.encode(bytes, padding: false) }

  /// The base32 text in groups of four for typing by hand.
  public var groupedBase32: String {
    var groups: [String] = []
    var current = ""
    for character in base32 {
      current.append(character)
      if current.count == 4 {
        groups.append(current)
        current = ""
      }
    }
    if !current.isEmpty { groups.append(current) }
    return groups.joined(separator: " ")
  }

  public var description: String { "OTPSecret(\(bytes.count) bytes)" }
  public var debugDescription: String { description }

  public static func == (a: OTPSecret, b: OTPSecret) -> Bool { ConstantTime.equals(a.bytes, b.bytes) }
}

/// Base32 of RFC 4648 (alphabet A–Z 2–7).
public enum Base32 {
  static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

  public static func encode(_ bytes: [UInt8], padding: Bool = true) -> String {
    var out: [UInt8] = []
    var buffer: UInt32 = 0
    var bits = 0
    for byte in bytes {
      buffer = buffer << 8 | UInt32(byte)
      bits += 8
      while bits >= 5 {
        out.append(alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
        bits -= 5
      }
    }
    if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
    if padding { while out.count % 8 != 0 { out.append(UInt8(ascii: "=")) } }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes base32; case, spaces, dashes and the padding are forgiven, anything else is named.
  public static func decode(_ text: String) throws(OTPError) -> [UInt8] {
    var buffer: UInt32 = 0
    var bits = 0
    var out: [UInt8] = []
    var symbols = 0
    var seenPadding = false
    for (position, scalar) in text.unicodeScalars.enumerated() {
      if scalar == " " || scalar == "-" || scalar == "\t" { continue }
      if scalar == "=" {
        seenPadding = true
        continue
      }
      guard !seenPadding else {
        throw .invalidBase32("character after padding at position \(position + 1)")
      }
      let value: UInt32
      switch scalar {
      case "A"..."Z": value = scalar.value - 65
      case "a"..."z": value = scalar.value - 97
      case "2"..."7": value = scalar.value - 50 + 26
      default:
        throw .invalidBase32(
          "\(String(scalar).debugDescription) at position \(position + 1) is not base32 (A-Z, 2-7)")
      }
      buffer = buffer << 5 | value
      bits += 5
      symbols += 1
      if bits >= 8 {
        out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
        bits -= 8
      }
    }
    guard [0, 2, 4, 5, 7].contains(symbols % 8) else {
      throw .invalidBase32("\(symbols) symbols cannot end a base32 text (the last group is cut)")
    }
    guard out.count > 0 else { throw .invalidBase32("no data") }
    return out
  }
}
