import Foundation
import SeedImport

/// Vendor seed files (PSKC, RFC 6030) as `otptoken import` reads them: plain, and with a
/// pre-shared key so the encrypted and MAC paths are reached too.
func fuzzPSKC(_ bytes: [UInt8]) {
  let data = Data(bytes)
  _ = try? PSKCReader().read(data)
  _ = try? PSKCReader(decryption: .preSharedKey(Array(repeating: 0x42, count: 16)), skipInvalid: true).read(
    data)
}
