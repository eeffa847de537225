import Foundation
import RADIUS
import Testing

/// RFC 2865 section 7.1: "nemo" logs in with "arctangent"; the shared secret is "xyzzy5461".
let rfcRequest = bytes(
  "01000038 0f403f94 73978057 bd83d5cb 98f4227a 01066e65 6d6f0212 0dbe708d 93d413ce 3196e43f 782a0aee 0406c0a8 01100506 00000003"
)
let rfcAnswer = bytes("02000026 86fe220e 7624ba2a 1005f6bf 9b55e0b2 06060000 00010f06 00000000 0e06c0a8 0103")
let rfcSecret = Array("xyzzy5461".utf8)

func bytes(_ hex: String) -> [UInt8] {
  let digits = Array(hex.filter(\.isHexDigit))
  return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

@Suite struct PacketTests {
  @Test func theRFCsExampleParsesAndItsPasswordIsRevealed() throws {
    let request = try RADIUSPacket(parsing: rfcRequest)
    #expect(request.code == 1 && request.identifier == 0 && request.attributes.count == 4)
    #expect(request.value(.userName) == Array("nemo".utf8))
    let hidden = try #require(request.value(.userPassword))
    let clear = RADIUSCrypto.revealPassword(
      hidden, secret: rfcSecret, requestAuthenticator: request.authenticator)
    #expect(clear == Array("arctangent".utf8))
    #expect(try request.encoded() == rfcRequest)
    #expect(RADIUSCrypto.answerIsAuthentic(rfcAnswer, to: request, secret: rfcSecret))
    #expect(!RADIUSCrypto.answerIsAuthentic(rfcAnswer, to: request, secret: Array("xyzzy5462".utf8)))
  }

  @Test func passwordsOfEveryLengthRoundTrip() {
    let authenticator = (0..<16).map { UInt8($0 * 7) }
    for length in 1...128 {
      let password = (0..<length).map { UInt8(33 + $0 % 90) }
      let hidden = RADIUSCrypto.hidePassword(password, secret: rfcSecret, requestAuthenticator: authenticator)
      #expect(hidden.count % 16 == 0 && hidden.count >= password.count)
      #expect(
        RADIUSCrypto.revealPassword(hidden, secret: rfcSecret, requestAuthenticator: authenticator)
          == password,
        "\(length)")
    }
    #expect(
      RADIUSCrypto.revealPassword([1, 2, 3], secret: rfcSecret, requestAuthenticator: authenticator) == nil)
    #expect(
      RADIUSCrypto.revealPassword(
        [UInt8](repeating: 1, count: 144), secret: rfcSecret, requestAuthenticator: authenticator)
        == nil)
  }

  @Test(arguments: [
    [UInt8](repeating: 1, count: 19),
    [1, 0, 0, 50] + [UInt8](repeating: 0, count: 16),
    [1, 0, 0, 19] + [UInt8](repeating: 0, count: 16),
    [1, 0, 0, 22] + [UInt8](repeating: 0, count: 16) + [1, 1],
    [1, 0, 0, 23] + [UInt8](repeating: 0, count: 16) + [1, 5, 0],
    [1, 0, 0, 21] + [UInt8](repeating: 0, count: 16) + [1],
  ])
  func malformedDatagramsAreRefusedWhole(datagram: [UInt8]) {
    #expect(throws: RADIUSError.self) { try RADIUSPacket(parsing: datagram) }
  }

  @Test func randomDatagramsNeverCrashTheParser() {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<20_000 {
      var datagram = (0..<Int.random(in: 0...80, using: &generator)).map { _ in
        UInt8.random(in: 0...255, using: &generator)
      }
      if datagram.count >= 4 {
        datagram[2] = 0
        datagram[3] = UInt8(min(datagram.count, 255))
      }
      if let packet = try? RADIUSPacket(parsing: datagram) {
        #expect(packet.authenticator.count == 16)
      }
    }
  }

  @Test func messageAuthenticatorsAreRequiredCheckedAndPutFirstOnAnswers() throws {
    let secret = Array("a shared secret of the test".utf8)
    var request = RADIUSPacket(
      code: 1, identifier: 42, authenticator: (0..<16).map { UInt8($0) },
      attributes: [.init(.userName, Array("alice".utf8))])
    #expect(throws: RADIUSError.unauthenticated("no Message-Authenticator")) {
      try RADIUSCrypto.checkRequest(request, secret: secret, required: true)
    }
    try RADIUSCrypto.checkRequest(request, secret: secret, required: false)
    try RADIUSCrypto.signRequest(&request, secret: secret)
    try RADIUSCrypto.checkRequest(request, secret: secret, required: true)
    #expect(throws: RADIUSError.self) {
      try RADIUSCrypto.checkRequest(request, secret: secret + [1], required: true)
    }
    var tampered = request
    tampered.attributes[0].value = Array("alicf".utf8)
    #expect(throws: RADIUSError.self) {
      try RADIUSCrypto.checkRequest(tampered, secret: secret, required: true)
    }

    let answer = RADIUSPacket(
      code: 11, identifier: 0, authenticator: [],
      attributes: [.init(.state, [1, 2, 3]), .init(.replyMessage, Array("code?".utf8))])
    let signed = try RADIUSCrypto.signAnswer(answer, to: request, secret: secret)
    let parsed = try RADIUSPacket(parsing: signed)
    #expect(parsed.identifier == 42 && parsed.attributes.first?.type == 80 && parsed.attributes.count == 3)
    #expect(RADIUSCrypto.answerIsAuthentic(signed, to: request, secret: secret))
    // The answer's Message-Authenticator is computed over the request's authenticator.
    var check = parsed
    check.authenticator = request.authenticator
    try RADIUSCrypto.checkRequest(check, secret: secret, required: true)
  }
}
