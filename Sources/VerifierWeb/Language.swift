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

  /// The language an `Accept-Language` header prefers among ``codes``, by quality and then order;
  /// English when none of them is named or the header is missing or garbled.
  static func negotiate(_ header: String?) -> String {
    guard let header, header.utf8.count <= 1024 else { return codes[0] }
    var best: (code: String, quality: Double)?
    for item in header.split(separator: ",").prefix(32) {
      let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
      guard let tag = parts.first?.lowercased(), !tag.isEmpty else { continue }
      var quality = 1.0
      for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
        quality = Double(parameter.dropFirst(2)).map { min(max($0, 0), 1) } ?? 0
      }
      let primary = String(tag.split(separator: "-").first ?? "")
      guard quality > 0, let code = codes.first(where: { $0 == primary }) else { continue }
      if best == nil || quality > best!.quality { best = (code, quality) }
    }
    return best?.code ?? codes[0]
  }
}

/// The pages cannot start: a resource is missing or malformed.
public struct WebSetupError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
