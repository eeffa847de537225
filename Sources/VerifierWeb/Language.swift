import BrowserInput
import Foundation

/// The pages' texts in one language, from `Texts/<code>.json`: one file per language, every key in
/// every file (a test holds them equal).
struct Texts: Sendable {
  let code: String
  let strings: [String: String]

  subscript(_ key: String) -> String { strings[key] ?? key }

  /// The languages the pages speak; the first is the default.
  static let codes = ["en", "ru"]

  static func load() throws -> [String: Texts] {
    var all: [String: Texts] = [:]
    for code in codes {
      guard let url = Bundle.module.url(forResource: code, withExtension: "json", subdirectory: "Texts")
      else {
        throw WebSetupError("the texts for \(code) are missing from this build")
      }
      let strings = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url))
      all[code] = Texts(code: code, strings: strings)
    }
    return all
  }

  /// The language a request's `Accept-Language` header prefers among ``codes``.
  static func negotiate(_ header: String?) -> String { AcceptLanguage.choose(among: codes, header) }
}

/// The pages cannot start: a resource is missing or malformed.
public struct WebSetupError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
