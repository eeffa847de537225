import Crypto
import Foundation
import Testing

@testable import OneTimePassword

/// The lines of a vector file in `Vectors/`, split into fields; `#` starts a comment.
func vectorLines(_ name: String) throws -> [[Substring]] {
  let url = try #require(Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Vectors"))
  return try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
    .map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0] }
    .map { $0.split(separator: " ") }.filter { !$0.isEmpty }
}

@Suite struct HOTPVectorTests {
  @Test func rfc4226AppendixD() throws {
    let hotp = try HOTPGenerator(secret: OTPSecret(bytes: Array("12345678901234567890".utf8)))
    let vectors = try vectorLines("rfc4226")
    #expect(vectors.count == 10)
    for vector in vectors {
      #expect(hotp.code(counter: try #require(UInt64(vector[0]))).text == vector[1])
    }
  }

  @Test func rfc6238AppendixB() throws {
    let vectors = try vectorLines("rfc6238")
    #expect(vectors.count == 18)
    for vector in vectors {
      let algorithm = try #require(HashAlgorithm(rawValue: String(vector[1])))
      let totp = try TOTPGenerator(
        secret: OTPSecret(bytes: Self.rfc6238Seed(algorithm)), algorithm: algorithm, digits: 8)
      #expect(totp.code(at: try #require(Int64(vector[0]))).text == vector[2], "\(vector)")
    }
  }

  /// "1234567890" repeated to the hash's size.
  static func rfc6238Seed(_ algorithm: HashAlgorithm) -> [UInt8] {
    let size = [HashAlgorithm.sha1: 20, .sha256: 32, .sha512: 64][algorithm]!
    return Array(String(String(repeating: "1234567890", count: 7).prefix(size)).utf8)
  }

  @Test func fastSHA1PathAgreesWithSwiftCrypto() throws {
    var rng = SystemRandomNumberGenerator()
    for keyLength in [1, 16, 20, 32, 63, 64, 65, 100, 200] {
      let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let hotp = try HOTPGenerator(secret: OTPSecret(bytes: key), digits: 8)
      for _ in 0..<50 {
        let counter = UInt64.random(in: 0...UInt64.max, using: &rng)
        let message = (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64($0))) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: key)))
        #expect(hotp.truncated(counter: counter) == HOTPGenerator.truncate(mac))
      }
    }
  }

  @Test func findReturnsTheLowestMatchingCounter() throws {
    let hotp = try HOTPGenerator(secret: OTPSecret(bytes: Array("12345678901234567890".utf8)))
    #expect(hotp.find(try OTPCode("969429"), from: 0, count: 10) == 3)
    #expect(hotp.find(try OTPCode("969429"), from: 4, count: 10) == nil)
    #expect(hotp.find(try OTPCode("755224"), from: 0, count: 1) == 0)
    #expect(hotp.find(try OTPCode("7552240"), from: 0, count: 10) == nil)  // wrong length
  }

  @Test func digitsOutOfRangeAreRefused() {
    #expect(throws: OTPError.invalidDigits(9)) { try HOTPGenerator(secret: .random(), digits: 9) }
    #expect(throws: OTPError.emptySecret) { try HOTPGenerator(secret: OTPSecret(bytes: [])) }
  }
}

@Suite struct OTPCodeTests {
  @Test func leadingZerosSurvive() throws {
    let code = try OTPCode("007081")
    #expect(code.text == "007081" && code.value == 7081)
    #expect(OTPCode(value: 7081, digits: 6).text == "007081")
    #expect(code.constantTimeEquals(OTPCode(value: 7081, digits: 6)))
    #expect(!code.constantTimeEquals(try OTPCode("0070810")))
  }

  @Test(arguments: [
    "", "12345", "123456789", "12a456", "１２３４５６", " 123456", String(repeating: "1", count: 100_000),
  ])
  func malformedCodesAreRefused(text: String) {
    #expect(throws: OTPError.self) { try OTPCode(text) }
  }

  @Test func descriptionHidesTheCode() throws {
    #expect(try OTPCode("755224").description == "75••••")
    #expect(!OTPSecret(bytes: [0xAB, 0xCD]).description.contains("ab"))
  }
}

@Suite struct Base32Tests {
  @Test func rfc4648Vectors() throws {
    let vectors = [
      ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="), ("foob", "MZXW6YQ="),
      ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
    ]
    for (plain, encoded) in vectors {
      #expect(Base32.encode(Array(plain.utf8)) == encoded)
      #expect(try Base32.decode(encoded) == Array(plain.utf8))
      #expect(
        try Base32.decode(encoded.lowercased().replacingOccurrences(of: "=", with: "")) == Array(plain.utf8))
    }
  }

  @Test func groupedTextDecodes() throws {
    let secret = OTPSecret.random()
    #expect(try OTPSecret(base32: secret.groupedBase32) == secret)
    #expect(secret.bytes.count == 20)
  }

  @Test func errorsNameTheProblem() {
    #expect(throws: OTPError.invalidBase32("\"1\" at position 3 is not base32 (A-Z, 2-7)")) {
      try Base32.decode("MZ1W6")
    }
    #expect(throws: OTPError.invalidBase32("3 symbols cannot end a base32 text (the last group is cut)")) {
      try Base32.decode("MZX")
    }
    #expect(throws: OTPError.invalidBase32("character after padding at position 4")) {
      try Base32.decode("MY=A")
    }
  }
}

@Suite struct OTPAuthURITests {
  @Test func roundTrip() throws {
    let uri = OTPAuthURI(
      kind: .totp, issuer: "Example Co", account: "alice@example.com", secret: .random(),
      algorithm: .sha256, digits: 8, period: 60)
    let parsed = try OTPAuthURI(parsing: uri.string)
    #expect(parsed == uri)
    let hotp = OTPAuthURI(kind: .hotp, issuer: nil, account: "bob", secret: .random(), counter: 42)
    #expect(try OTPAuthURI(parsing: hotp.string) == hotp)
  }

  @Test func parsesTheCommonForm() throws {
    let uri = try OTPAuthURI(
      parsing:
        "otpauth://totp/ACME%20Co:john@example.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co")
    #expect(uri.issuer == "ACME Co" && uri.account == "john@example.com")
    #expect(uri.digits == 6 && uri.period == 30 && uri.algorithm == .sha1)
  }

  @Test(arguments: [
    ("http://totp/a?secret=MZXW6", OTPAuthURIError.wrongScheme("http")),
    ("otpauth://motp/a?secret=MZXW6", .unknownType("motp")),
    ("otpauth://totp/?secret=MZXW6", .missingLabel),
    ("otpauth://totp/a", .missingSecret),
    (
      "otpauth://totp/a?secret=M1",
      .invalidSecret("invalid base32 secret: \"1\" at position 2 is not base32 (A-Z, 2-7)")
    ),
    ("otpauth://totp/A:a?secret=MZXW6&issuer=B", .issuerMismatch(label: "A", parameter: "B")),
    ("otpauth://totp/a?secret=MZXW6&algorithm=MD5", .invalidAlgorithm("MD5")),
    ("otpauth://totp/a?secret=MZXW6&digits=10", .invalidDigits("10")),
    ("otpauth://totp/a?secret=MZXW6&period=0", .invalidPeriod("0")),
    ("otpauth://hotp/a?secret=MZXW6", .missingCounter),
    ("otpauth://hotp/a?secret=MZXW6&counter=-1", .invalidCounter("-1")),
    ("otpauth://totp/a?secret=MZXW6&secret=MZXW6", .duplicateParameter("secret")),
    ("otpauth://totp/a?secret=MZXW6&counter=3", .parameterNotForType("counter", "totp")),
  ])
  func malformedURIsGetPreciseErrors(text: String, expected: OTPAuthURIError) {
    #expect(throws: expected) { try OTPAuthURI(parsing: text) }
  }
}

@Suite struct OTPAuthURIRoundTripTests {
  /// Found by the fuzzer: an issuer holding a colon printed as a label the parser split there.
  @Test func anIssuerWithAColonSurvivesPrintingAndParsing() throws {
    for issuer in ["ACME:Eu", " Spaced ", "a/b=c d", "Jose\u{301}"] {
      let uri = OTPAuthURI(
        kind: .totp, issuer: issuer.trimmingCharacters(in: .whitespaces), account: "alice@example.com",
        secret: OTPSecret(bytes: Array(repeating: 7, count: 20)), algorithm: .sha1, digits: 6, period: 30,
        counter: 0)
      #expect(try OTPAuthURI(parsing: uri.string) == uri, "\(uri.string)")
    }
    let parsed = try OTPAuthURI(
      parsing: "otpauth://totp/ACME%3AEu:alice?secret=JBSWY3DPEHPK3PXP&issuer=ACME%3AEu")
    #expect(parsed.issuer == "ACME:Eu" && parsed.account == "alice")
  }
}
