import Foundation
import FuzzSupport
import OneTimePassword
import Verifier

/// What people and HTTP clients type: otpauth URIs and base32 secrets, submitted codes, user
/// names, and the JSON bodies of the verify and login routes decoded into those.
func fuzz(_ bytes: [UInt8]) {
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

#if OTPTOKEN_FUZZING
  @_cdecl("LLVMFuzzerTestOneInput")
  func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzz(Fuzzing.bytes(data, size))
    return 0
  }

  @_cdecl("fuzz_codes_main")
  func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzzing.drive(argc, argv, testOneInput)
  }
#else
  @main struct Replay { static func main() { Fuzzing.replay(fuzz) } }
#endif
