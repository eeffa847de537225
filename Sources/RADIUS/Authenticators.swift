import Crypto
import Foundation
import OneTimePassword

/// The shared-secret arithmetic of RADIUS: the hidden User-Password (RFC 2865 5.2), the response
/// authenticator (RFC 2865 3) and the Message-Authenticator (RFC 3579 3.2), with comparisons in
/// constant time.
public enum RADIUSCrypto {
  /// The clear text of a User-Password attribute: 16-byte blocks, each XORed with
  /// MD5(secret + the previous cipher block, the request authenticator first); trailing NULs are
  /// padding. nil if the length is not 16 to 128 in steps of 16.
  public static func revealPassword(_ hidden: [UInt8], secret: [UInt8], requestAuthenticator: [UInt8])
    -> [UInt8]?
  {
    guard hidden.count >= 16, hidden.count <= 128, hidden.count % 16 == 0 else { return nil }
    var clear: [UInt8] = []
    var previous = requestAuthenticator
    for start in stride(from: 0, to: hidden.count, by: 16) {
      let block = Array(hidden[start..<(start + 16)])
      let pad = Array(Insecure.MD5.hash(data: secret + previous))
      clear += zip(block, pad).map { $0 ^ $1 }
      previous = block
    }
    while clear.last == 0 { clear.removeLast() }
    return clear
  }

  /// The User-Password attribute's value for `password` (what a client sends; for tests and tools).
  public static func hidePassword(_ password: [UInt8], secret: [UInt8], requestAuthenticator: [UInt8])
    -> [UInt8]
  {
    var padded = password
    padded += [UInt8](repeating: 0, count: (16 - padded.count % 16) % 16)
    if padded.isEmpty { padded = [UInt8](repeating: 0, count: 16) }
    var hidden: [UInt8] = []
    var previous = requestAuthenticator
    for start in stride(from: 0, to: padded.count, by: 16) {
      let pad = Array(Insecure.MD5.hash(data: secret + previous))
      let block = zip(padded[start..<(start + 16)], pad).map { $0 ^ $1 }
      hidden += block
      previous = block
    }
    return hidden
  }

  /// HMAC-MD5 over the packet with the Message-Authenticator's value zeroed and, for an answer,
  /// the request's authenticator in the authenticator field.
  static func messageAuthenticator(_ packet: RADIUSPacket, secret: [UInt8], authenticator: [UInt8])
    throws(RADIUSError)
    -> [UInt8]
  {
    var zeroed = packet
    zeroed.authenticator = authenticator
    zeroed.attributes = packet.attributes.map {
      $0.type == RADIUSPacket.AttributeType.messageAuthenticator.rawValue
        ? .init($0.type, [UInt8](repeating: 0, count: 16)) : $0
    }
    let bytes = try zeroed.encoded()
    return Array(HMAC<Insecure.MD5>.authenticationCode(for: bytes, using: SymmetricKey(data: secret)))
  }

  /// Checks a request's Message-Authenticator. A request without one is refused when `required`.
  public static func checkRequest(_ packet: RADIUSPacket, secret: [UInt8], required: Bool) throws(RADIUSError)
  {
    let found = packet.attributes.filter {
      $0.type == RADIUSPacket.AttributeType.messageAuthenticator.rawValue
    }
    guard let attribute = found.first else {
      if required { throw .unauthenticated("no Message-Authenticator") }
      return
    }
    guard found.count == 1, attribute.value.count == 16 else {
      throw .unauthenticated("a malformed Message-Authenticator")
    }
    let expected = try messageAuthenticator(packet, secret: secret, authenticator: packet.authenticator)
    guard ConstantTime.equals(expected, attribute.value) else {
      throw .unauthenticated("the Message-Authenticator does not match")
    }
  }

  /// Signs an answer: a Message-Authenticator as its first attribute (the BlastRADIUS fix), then
  /// the response authenticator MD5(code, identifier, length, request authenticator, attributes,
  /// secret). Returns the datagram.
  public static func signAnswer(_ answer: RADIUSPacket, to request: RADIUSPacket, secret: [UInt8])
    throws(RADIUSError)
    -> [UInt8]
  {
    var packet = answer
    packet.identifier = request.identifier
    packet.attributes =
      [.init(.messageAuthenticator, [UInt8](repeating: 0, count: 16))]
      + answer.attributes.filter { $0.type != RADIUSPacket.AttributeType.messageAuthenticator.rawValue }
    packet.authenticator = request.authenticator
    packet.attributes[0].value = try messageAuthenticator(
      packet, secret: secret, authenticator: request.authenticator)
    let unsigned = try packet.encoded()
    packet.authenticator = Array(Insecure.MD5.hash(data: unsigned + secret))
    return try packet.encoded()
  }

  /// A request's Message-Authenticator, set in place (what a client does; for tests and tools).
  public static func signRequest(_ request: inout RADIUSPacket, secret: [UInt8]) throws(RADIUSError) {
    request.attributes.removeAll { $0.type == RADIUSPacket.AttributeType.messageAuthenticator.rawValue }
    request.attributes.append(.init(.messageAuthenticator, [UInt8](repeating: 0, count: 16)))
    let value = try messageAuthenticator(request, secret: secret, authenticator: request.authenticator)
    request.attributes[request.attributes.count - 1].value = value
  }

  /// Whether an answer's response authenticator is right for `request` (what a client checks).
  public static func answerIsAuthentic(_ answer: [UInt8], to request: RADIUSPacket, secret: [UInt8]) -> Bool {
    guard answer.count >= 20 else { return false }
    let claimed = Array(answer[4..<20])
    let recomputed = Array(
      Insecure.MD5.hash(data: Array(answer[0..<4]) + request.authenticator + answer[20...] + secret))
    return ConstantTime.equals(claimed, recomputed)
  }
}
