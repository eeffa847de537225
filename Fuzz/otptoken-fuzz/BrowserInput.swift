import BrowserInput
import Foundation

/// What browsers send the pages: form bodies and Accept-Language headers.
func fuzzBrowserInput(_ bytes: [UInt8]) {
  if let form = Form(bytes) {
    // A form that decodes must encode to one that decodes to the same fields.
    let encoded = form.fields.map { name, value in
      "\(percentEncoded(name))=\(percentEncoded(value))"
    }.joined(separator: "&")
    guard Form(Array(encoded.utf8)) == form else { fatalError("the form changed on a round trip") }
  }
  let offered = ["en", "ru"]
  let chosen = AcceptLanguage.choose(among: offered, String(decoding: bytes, as: UTF8.self))
  guard offered.contains(chosen) else { fatalError("chose a language not offered: \(chosen)") }
}

private func percentEncoded(_ text: String) -> String {
  text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
}
