import Foundation
import OneTimePassword
import Verifier

/// What people and HTTP clients type: otpauth URIs and base32 secrets, submitted codes, user
/// names, and the JSON bodies of the verify and login routes decoded into those.
func fuzzCodes(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  // A URI that parses must print as one that parses to the same.
  if let uri = try? OTPAuthURI(parsing: text) {
    guard (try? OTPAuthURI(parsing: uri.string)) == uri else {
      fatalError("round trip changed \(uri.string)")
    }
  }
  _ = try? OTPSecret(base32: text)
  _ = try? SubmittedCode(text)
  _ = try? UserName.checked(text)
  if let body = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) {
    if let user = body["user"] { _ = try? UserName.checked(user) }
    if let code = body["code"] { _ = try? SubmittedCode(code) }
  }
}
