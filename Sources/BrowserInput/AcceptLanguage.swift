import Foundation

/// Choosing a page's language from the browser's `Accept-Language` header.
public enum AcceptLanguage {
  /// The language of `offered` an `Accept-Language` header prefers, by quality and then order;
  /// the first offered when none of them is named, or the header is missing, over 1 KB or garbled.
  /// Only the primary subtag counts ("ru-RU" is "ru"); at most 32 entries are read.
  public static func choose(among offered: [String], _ header: String?) -> String {
    guard let fallback = offered.first else { return "" }
    guard let header, header.utf8.count <= 1024 else { return fallback }
    var best: (code: String, quality: Double)?
    for item in header.split(separator: ",").prefix(32) {
      let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
      guard let tag = parts.first?.lowercased(), !tag.isEmpty else { continue }
      var quality = 1.0
      for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
        quality = Double(parameter.dropFirst(2)).map { min(max($0, 0), 1) } ?? 0
      }
      let primary = String(tag.split(separator: "-").first ?? "")
      guard quality > 0, let code = offered.first(where: { $0 == primary }) else { continue }
      if best == nil || quality > best!.quality { best = (code, quality) }
    }
    return best?.code ?? fallback
  }
}
