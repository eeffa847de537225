/// Modhex: hex written with the letters `cbdefghijklnrtuv`, which sit on the same keys in most
/// keyboard layouts, so a token types them the same everywhere.
public enum Modhex {
  /// The alphabet, value 0 to 15.
  public static let alphabet: [Character] = Array("cbdefghijklnrtuv")

  /// The modhex text of `bytes`, high nibble first.
  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    var out = ""
    for byte in bytes {
      out.append(alphabet[Int(byte >> 4)])
      out.append(alphabet[Int(byte & 0x0F)])
    }
    return out
  }

  /// The bytes of modhex text (upper case accepted); nil if a character is not modhex or the
  /// length is odd.
  public static func decode(_ text: String) -> [UInt8]? {
    let values = text.lowercased().map { alphabet.firstIndex(of: $0) }
    guard values.count % 2 == 0, !values.contains(nil) else { return nil }
    var out: [UInt8] = []
    for pair in stride(from: 0, to: values.count, by: 2) {
      out.append(UInt8(values[pair]! << 4 | values[pair + 1]!))
    }
    return out
  }
}
