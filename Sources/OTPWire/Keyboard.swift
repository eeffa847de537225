/// One 8-byte boot-keyboard input report: modifier bits, a reserved byte, up to six usage IDs.
public struct KeyboardReport: Sendable, Hashable, CustomStringConvertible {
  public static let size = 8
  /// Left Shift in the modifier byte.
  public static let leftShift: UInt8 = 0x02

  public let bytes: [UInt8]

  public init(bytes: [UInt8]) throws(WireError) {
    guard bytes.count == Self.size else {
      throw .wrongLength(field: "keyboard report", expected: Self.size, actual: bytes.count)
    }
    self.bytes = bytes
  }

  /// A report with one key down.
  public init(modifier: UInt8, usage: UInt8) {
    bytes = [modifier, 0, usage, 0, 0, 0, 0, 0]
  }

  /// The report with every key up.
  public static let released = KeyboardReport(modifier: 0, usage: 0)

  public var modifier: UInt8 { bytes[0] }
  /// The usage IDs of the keys down.
  public var keys: [UInt8] { bytes[2...].filter { $0 != 0 } }

  public var description: String { bytes.hexString(separator: " ") }
}

/// The characters a token can type and their HID usage IDs (keyboard page 0x07, US layout):
/// modhex letters (upper case with Shift), digits, `!`, Tab and Enter.
public enum Keyboard {
  public static let enter: UInt8 = 0x28
  public static let tab: UInt8 = 0x2B

  private static let letters: [Character: UInt8] = [
    "b": 0x05, "c": 0x06, "d": 0x07, "e": 0x08, "f": 0x09, "g": 0x0A, "h": 0x0B, "i": 0x0C,
    "j": 0x0D, "k": 0x0E, "l": 0x0F, "n": 0x11, "r": 0x15, "t": 0x17, "u": 0x18, "v": 0x19,
  ]
  private static let lettersByUsage = Dictionary(uniqueKeysWithValues: letters.map { ($1, $0) })

  /// The usage ID of a digit on the main row, or on the numeric keypad.
  public static func usage(digit: Int, keypad: Bool = false) -> UInt8 {
    precondition((0...9).contains(digit))
    if keypad { return digit == 0 ? 0x62 : 0x58 + UInt8(digit) }
    return digit == 0 ? 0x27 : 0x1D + UInt8(digit)
  }

  /// The key-down report for a character, or nil if the token cannot type it.
  public static func keyDown(for character: Character, keypadDigits: Bool = false) -> KeyboardReport? {
    if let digit = character.wholeNumberValue, character.isASCII {
      return KeyboardReport(modifier: 0, usage: usage(digit: digit, keypad: keypadDigits))
    }
    switch character {
    case "\r", "\n": return KeyboardReport(modifier: 0, usage: enter)
    case "\t": return KeyboardReport(modifier: 0, usage: tab)
    case "!": return KeyboardReport(modifier: KeyboardReport.leftShift, usage: 0x1E)
    default: break
    }
    if let usage = letters[character] { return KeyboardReport(modifier: 0, usage: usage) }
    let lower = Character(character.lowercased())
    if character.isUppercase, let usage = letters[lower] {
      return KeyboardReport(modifier: KeyboardReport.leftShift, usage: usage)
    }
    return nil
  }

  /// The reports that type `text`: one key-down then one all-up report per character, so that
  /// repeated characters are typed twice.
  public static func reports(typing text: String, keypadDigits: Bool = false) throws(WireError)
    -> [KeyboardReport]
  {
    var out: [KeyboardReport] = []
    for character in text {
      guard let down = keyDown(for: character, keypadDigits: keypadDigits) else {
        throw .unknownKey("the token cannot type \(character.debugDescription)")
      }
      out.append(down)
      out.append(.released)
    }
    return out
  }

  /// The character of one key usage (Enter is "\r").
  public static func character(usage: UInt8, shifted: Bool) -> Character? {
    switch usage {
    case 0x1E...0x26: return shifted && usage == 0x1E ? "!" : Character(String(usage - 0x1D))
    case 0x27: return "0"
    case 0x59...0x61: return Character(String(usage - 0x58))
    case 0x62: return "0"
    case enter, 0x58: return "\r"
    case tab: return "\t"
    default:
      guard let letter = lettersByUsage[usage] else { return nil }
      return shifted ? Character(letter.uppercased()) : letter
    }
  }
}

/// Host-side decoding of keyboard input reports into the text typed: a key counts when it goes
/// down (appears in a report where it was not in the previous one).
public struct KeyboardDecoder: Sendable {
  private var down: Set<UInt8> = []
  /// The text typed so far.
  public private(set) var text = ""

  public init() {}

  /// Feeds one input report.
  public mutating func feed(_ report: KeyboardReport) throws(WireError) {
    let keys = Set(report.keys)
    let shifted = report.modifier & 0x22 != 0
    for usage in report.keys where !down.contains(usage) {
      guard let character = Keyboard.character(usage: usage, shifted: shifted) else {
        throw .unknownKey("usage 0x" + [usage].hexString() + " is not a key a token types")
      }
      text.append(character)
    }
    down = keys
  }

  /// Whether the last character typed was Enter.
  public var endsWithEnter: Bool { text.last == "\r" }

  /// Decodes a whole sequence of reports.
  public static func text(of reports: some Sequence<KeyboardReport>) throws(WireError) -> String {
    var decoder = KeyboardDecoder()
    for report in reports { try decoder.feed(report) }
    return decoder.text
  }
}
