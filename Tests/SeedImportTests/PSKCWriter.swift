import Crypto
import CryptoExtras
import Foundation

/// Writes PSKC files the way vendors do (RFC 6030 sections 6.1 and 6.2), so the importer is tested
/// on encrypted files whose keys the test knows: AES-128-CBC with the IV first in CipherValue,
/// HMAC-SHA1 over the CipherValue with a MAC key encrypted under the same key.
struct PSKCWriter {
  enum Protection {
    case preShared(key: [UInt8])
    case pbkdf2(password: String, salt: [UInt8], iterations: Int)
  }

  struct Token {
    var serial: String
    var secret: [UInt8]
    var counter: UInt64
    var digits: Int
  }

  var protection: Protection
  var macKey: [UInt8] = Array(repeating: 0x11, count: 20)
  var corruptMACOf: String? = nil

  func encryptionKey() throws -> SymmetricKey {
    switch protection {
    case .preShared(let key): return SymmetricKey(data: key)
    case .pbkdf2(let password, let salt, let iterations):
      return try KDF.Insecure.PBKDF2.deriveKey(
        from: Array(password.utf8), salt: salt, using: .insecureSHA1, outputByteCount: 16,
        unsafeUncheckedRounds: iterations)
    }
  }

  func encrypt(_ plain: [UInt8], _ key: SymmetricKey) throws -> Data {
    let iv = AES._CBC.IV()
    return Data(Array(iv)) + (try AES._CBC.encrypt(plain, using: key, iv: iv))
  }

  func document(_ tokens: [Token]) throws -> Data {
    let key = try encryptionKey()
    let encryptionKeyXML: String
    switch protection {
    case .preShared: encryptionKeyXML = "<ds:KeyName>Pre-shared-key</ds:KeyName>"
    case .pbkdf2(_, let salt, let iterations):
      encryptionKeyXML = """
        <DerivedKey>
          <KeyDerivationMethod Algorithm="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2">
            <pkcs5:PBKDF2-params>
              <Salt><Specified>\(Data(salt).base64EncodedString())</Specified></Salt>
              <IterationCount>\(iterations)</IterationCount>
              <KeyLength>16</KeyLength>
              <PRF/>
            </pkcs5:PBKDF2-params>
          </KeyDerivationMethod>
          <xenc:ReferenceList><xenc:DataReference URI="#ED"/></xenc:ReferenceList>
        </DerivedKey>
        """
    }
    let mac = SymmetricKey(data: macKey)
    var packages = ""
    for token in tokens {
      let cipher = try encrypt(token.secret, key)
      var valueMAC = Array(HMAC<Insecure.SHA1>.authenticationCode(for: cipher, using: mac))
      if corruptMACOf == token.serial { valueMAC[0] ^= 0xFF }
      packages += """
        <KeyPackage>
          <DeviceInfo><Manufacturer>Example</Manufacturer><SerialNo>\(token.serial)</SerialNo></DeviceInfo>
          <Key Id="\(token.serial)" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
            <AlgorithmParameters><ResponseFormat Length="\(token.digits)" Encoding="DECIMAL"/></AlgorithmParameters>
            <Data>
              <Secret>
                <EncryptedValue>
                  <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
                  <xenc:CipherData><xenc:CipherValue>\(cipher.base64EncodedString())</xenc:CipherValue></xenc:CipherData>
                </EncryptedValue>
                <ValueMAC>\(Data(valueMAC).base64EncodedString())</ValueMAC>
              </Secret>
              <Counter><PlainValue>\(token.counter)</PlainValue></Counter>
            </Data>
          </Key>
        </KeyPackage>

        """
    }
    let xml = """
      <?xml version="1.0" encoding="UTF-8"?>
      <KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
          xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"
          xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#">
        <EncryptionKey>\(encryptionKeyXML)</EncryptionKey>
        <MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1">
          <MACKey>
            <xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
            <xenc:CipherData><xenc:CipherValue>\(try encrypt(macKey, key).base64EncodedString())</xenc:CipherValue></xenc:CipherData>
          </MACKey>
        </MACMethod>
      \(packages)
      </KeyContainer>
      """
    return Data(xml.utf8)
  }
}
