import RADIUS

/// RADIUS datagrams as a network device (or anyone on the network) sends them: the packet parser,
/// the Message-Authenticator check and the hidden password.
func fuzzRADIUS(_ bytes: [UInt8]) {
  guard let packet = try? RADIUSPacket(parsing: bytes) else { return }
  // A packet that parses must encode to its own bytes (up to its length).
  let length = Int(bytes[2]) << 8 | Int(bytes[3])
  guard (try? packet.encoded()) == Array(bytes[0..<length]) else {
    fatalError("the packet changed on a round trip")
  }
  let secret = Array("a fuzzing secret".utf8)
  _ = try? RADIUSCrypto.checkRequest(packet, secret: secret, required: true)
  if let hidden = packet.value(.userPassword) {
    _ = RADIUSCrypto.revealPassword(hidden, secret: secret, requestAuthenticator: packet.authenticator)
  }
}
