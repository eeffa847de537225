import Foundation
import FuzzSupport
import SeedImport

/// Vendor seed files (PSKC, RFC 6030) as `otptoken import` reads them: plain, and with a
/// pre-shared key so the encrypted and MAC paths are reached too.
func fuzz(_ bytes: [UInt8]) {
  let data = Data(bytes)
  _ = try? PSKCReader().read(data)
  _ = try? PSKCReader(decryption: .preSharedKey(Array(repeating: 0x42, count: 16)), skipInvalid: true).read(
    data)
}

#if OTPTOKEN_FUZZING
  @_cdecl("LLVMFuzzerTestOneInput")
  func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzz(Fuzzing.bytes(data, size))
    return 0
  }

  @_cdecl("fuzz_pskc_main")
  func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzzing.drive(argc, argv, testOneInput)
  }
#else
  @main struct Replay { static func main() { Fuzzing.replay(fuzz) } }
#endif
