import Foundation

/// User names, checked and normalised in one place: every entry point of the verifier that takes
/// a name passes it through ``checked(_:)`` before it reaches a store, a log or a limiter.
///
/// A name is 1 to 256 characters in Unicode NFC (so "José" typed with a combining accent is the
/// same user as with a precomposed "é"), without control characters: no NUL, which a C string
/// would cut ("alice\0x" is not alice), no line breaks or tabs, no DEL, no C1 controls. Nothing
/// else is changed: case and spaces are kept.
public enum UserName {
  public static let maximumLength = 256

  /// The name as the verifier stores and looks it up, or invalid input.
  public static func checked(_ name: String) throws(VerifierError) -> String {
    // Most names are printable ASCII, which is already NFC.
    if (1...maximumLength).contains(name.utf8.count), name.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
      return name
    }
    let normal = name.precomposedStringWithCanonicalMapping
    guard !normal.isEmpty, normal.count <= maximumLength,
      !normal.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
    else {
      throw .invalidInput(
        "a user name is 1 to 256 characters without control characters (NUL, line breaks, tabs)")
    }
    return normal
  }
}
