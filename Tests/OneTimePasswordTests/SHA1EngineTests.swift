import Crypto
import Foundation
import Testing

@testable import OneTimePassword

@Suite struct SHA1EngineTests {
  /// RFC 4226, appendix D: the ten codes of "12345678901234567890".
  static let rfc4226 = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489]

  @Test(arguments: SHA1Engine.allCases)
  func everyEngineGivesRFC4226sCodes(_ engine: SHA1Engine) throws {
    let generator = try HOTPGenerator(
      secret: OTPSecret(bytes: Array("12345678901234567890".utf8)), engine: engine)
    #expect((0..<10).map { Int(generator.value(counter: UInt64($0))) } == Self.rfc4226)
    #expect(generator.find(OTPCode(value: 520489, digits: 6), from: 0, count: 10) == 9)
  }

  @Test func theEnginesAgreeWithEachOtherAndWithSwiftCrypto() throws {
    var rng = SystemRandomNumberGenerator()
    for length in [1, 10, 20, 32, 63, 64, 65, 100] {
      let key = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let counter = UInt64.random(in: 0...UInt64.max, using: &rng)
      let reference = Array(
        HMAC<Insecure.SHA1>.authenticationCode(
          for: HOTPGenerator.bigEndian(counter), using: SymmetricKey(data: key)))
      for engine in SHA1Engine.allCases {
        let generator = try HOTPGenerator(secret: OTPSecret(bytes: key), digits: 8, engine: engine)
        #expect(
          generator.truncated(counter: counter) == HOTPGenerator.truncate(reference), "\(engine), \(length)")
      }
    }
  }

  /// `find` takes its own path on SHA-1 (one scratch area per window, a divisibility test instead
  /// of a remainder); it must find what evaluating every candidate one by one finds.
  @Test(arguments: [6, 7, 8])
  func findAgreesWithValueByValueOnEveryEngine(_ digits: Int) throws {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<50 {
      let secret = OTPSecret.random()
      let start = UInt64.random(in: 0...UInt64.max - 100, using: &rng)
      let reference = try HOTPGenerator(secret: secret, digits: digits, engine: .portable)
      let code = reference.code(counter: start + UInt64.random(in: 0..<40, using: &rng))
      let naive = (0..<40).map { start + UInt64($0) }.first { reference.value(counter: $0) == code.value }
      let missing = OTPCode(value: (code.value + 1) % reference.modulus, digits: digits)
      let naiveMissing = (0..<40).map { start + UInt64($0) }.first {
        reference.value(counter: $0) == missing.value
      }
      for engine in SHA1Engine.allCases {
        let generator = try HOTPGenerator(secret: secret, digits: digits, engine: engine)
        #expect(generator.find(code, from: start, count: 40) == naive)
        #expect(generator.find(missing, from: start, count: 40) == naiveMissing)
        #expect(generator.code(counter: start) == reference.code(counter: start))
      }
    }
  }

  @Test func openSSLsBlockFunctionIsChosenHere() {
    // The build machines have libcrypto; the portable engine is only a fallback.
    #expect(SHA1Engine.openSSLAnswersCorrectly())
    #expect(SHA1Engine.current == .openSSL || getenv("OTPTOKEN_SHA1") != nil)
  }
}
