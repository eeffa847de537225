import Crypto
import CryptoExtras
import Foundation
import OneTimePassword
import Verifier

/// Why a PSKC file was refused. Each names what is wrong and where.
public enum PSKCError: Error, Equatable, Sendable, CustomStringConvertible {
  case malformed(String)
  case missing(String)
  case unsupported(String)
  case needsKey(String)
  case decryption(String)
  case badMAC(key: String)
  case invalidValue(String)

  public var description: String {
    switch self {
    case .malformed(let why): return "not a PSKC file: \(why)"
    case .missing(let what): return "missing \(what)"
    case .unsupported(let what): return "unsupported \(what)"
    case .needsKey(let what): return what
    case .decryption(let why): return "cannot decrypt: \(why)"
    case .badMAC(let key):
      return "the MAC of key \(key) does not check: the file was altered or the key is wrong"
    case .invalidValue(let why): return why
    }
  }
}

/// How an encrypted PSKC file is opened.
public enum PSKCDecryption: Sendable {
  case none
  /// A pre-shared AES key (16, 24 or 32 bytes).
  case preSharedKey([UInt8])
  /// A password from which the key is derived with the file's PBKDF2 parameters.
  case password(String)
}

/// One OTP key of a PSKC file, decrypted and checked.
public struct PSKCKey: Sendable, Equatable {
  public var id: String
  public var serial: String
  public var secret: OTPSecret
  public var counter: UInt64
  public var digits: Int
  public var algorithm: HashAlgorithm
  public var issuer: String?
}

/// Reads PSKC (RFC 6030) key containers: plain secrets, secrets encrypted with AES-CBC under a
/// pre-shared key or a PBKDF2-derived key, and their HMAC checks. A file is all or nothing: the
/// first key that fails refuses the whole file, unless `skipInvalid` is set.
public struct PSKCReader: Sendable {
  /// The largest file read, so a hostile file cannot exhaust memory.
  public static let maximumFileSize = 64 << 20
  /// PBKDF2 rounds above this are refused (a file could otherwise stall the importer).
  public static let maximumIterations = 10_000_000

  public var decryption: PSKCDecryption
  public var skipInvalid: Bool

  public init(decryption: PSKCDecryption = .none, skipInvalid: Bool = false) {
    self.decryption = decryption
    self.skipInvalid = skipInvalid
  }

  /// The keys of a file, with those skipped (only with `skipInvalid`) and why.
  public func read(_ data: Data, progress: (Int, Int) -> Void = { _, _ in }) throws(PSKCError)
    -> (keys: [PSKCKey], skipped: [String])
  {
    guard data.count <= Self.maximumFileSize else {
      throw .invalidValue("the file is over \(Self.maximumFileSize >> 20) MiB")
    }
    let root = try XMLElement.parse(data)
    guard root.name == "KeyContainer" else {
      throw .malformed("the root element is \(root.name), not KeyContainer")
    }
    guard root.attributes["Version"] == "1.0" else {
      throw .unsupported(
        "KeyContainer version \(root.attributes["Version"] ?? "(none)"); only 1.0 is defined")
    }
    let encryptionKey = try self.encryptionKey(root)
    let macKey = try self.macKey(root, encryptionKey)
    let packages = root.all("KeyPackage")
    guard !packages.isEmpty else { throw .missing("KeyPackage: the file holds no key") }
    var keys: [PSKCKey] = []
    var skipped: [String] = []
    for (index, package) in packages.enumerated() {
      do {
        keys.append(try key(package, index: index, encryptionKey: encryptionKey, macKey: macKey))
      } catch {
        guard skipInvalid else { throw error }
        skipped.append("key \(index + 1): \(error)")
      }
      progress(index + 1, packages.count)
    }
    return (keys, skipped)
  }

  // MARK: Keys of the container

  private func encryptionKey(_ root: XMLElement) throws(PSKCError) -> SymmetricKey? {
    guard let element = root.child("EncryptionKey") else { return nil }
    if let derived = element.child("DerivedKey") {
      guard case .password(let password) = decryption else {
        throw .needsKey("the file's keys are protected by a password: pass it (--password-file)")
      }
      return try derive(derived, password: password)
    }
    guard case .preSharedKey(let bytes) = decryption else {
      let name = element.child("KeyName")?.trimmedText ?? "a pre-shared key"
      throw .needsKey("the file's keys are encrypted with \"\(name)\": pass that key (--key-hex)")
    }
    guard [16, 24, 32].contains(bytes.count) else {
      throw .invalidValue("the pre-shared key must be 16, 24 or 32 bytes")
    }
    return SymmetricKey(data: bytes)
  }

  private func derive(_ derived: XMLElement, password: String) throws(PSKCError) -> SymmetricKey {
    guard let method = derived.child("KeyDerivationMethod"),
      method.attributes["Algorithm"]?.hasSuffix("pkcs-5v2-0#pbkdf2") == true
    else { throw .unsupported("key derivation (only PBKDF2 is supported)") }
    guard let parameters = method.child("PBKDF2-params") else { throw .missing("PBKDF2-params") }
    guard let saltText = parameters.at("Salt", "Specified")?.trimmedText,
      let salt = Data(base64Encoded: saltText)
    else { throw .missing("PBKDF2 Salt/Specified (base64)") }
    guard let iterations = Int(parameters.child("IterationCount")?.trimmedText ?? ""),
      (1...Self.maximumIterations).contains(iterations)
    else { throw .invalidValue("PBKDF2 IterationCount must be 1 to \(Self.maximumIterations)") }
    let length = Int(parameters.child("KeyLength")?.trimmedText ?? "16") ?? 0
    guard [16, 24, 32].contains(length) else { throw .invalidValue("PBKDF2 KeyLength must be 16, 24 or 32") }
    var hash = KDF.Insecure.PBKDF2.HashFunction.insecureSHA1
    if let prf = parameters.child("PRF")?.attributes["Algorithm"] {
      switch prf.split(separator: "#").last ?? "" {
      case "hmac-sha1", "hmacWithSHA1": hash = .insecureSHA1
      case "hmac-sha256", "hmacWithSHA256": hash = .sha256
      case "hmac-sha512", "hmacWithSHA512": hash = .sha512
      default: throw .unsupported("PBKDF2 PRF \(prf)")
      }
    }
    do {
      return try KDF.Insecure.PBKDF2.deriveKey(
        from: Array(password.utf8), salt: salt, using: hash, outputByteCount: length,
        unsafeUncheckedRounds: iterations)
    } catch { throw .decryption("PBKDF2 failed: \(error)") }
  }

  private struct MACKey {
    let key: SymmetricKey
    let algorithm: String
  }

  private func macKey(_ root: XMLElement, _ encryptionKey: SymmetricKey?) throws(PSKCError) -> MACKey? {
    guard let method = root.child("MACMethod") else { return nil }
    let algorithm = String(method.attributes["Algorithm"]?.split(separator: "#").last ?? "")
    guard ["hmac-sha1", "hmac-sha256", "hmac-sha512"].contains(algorithm) else {
      throw .unsupported("MAC algorithm \(method.attributes["Algorithm"] ?? "(none)")")
    }
    guard let element = method.child("MACKey") else { throw .missing("MACMethod/MACKey") }
    let bytes = try value(
      element, name: "the MAC key", encryptionKey: encryptionKey, mac: nil, keyID: "MACKey")
    return MACKey(key: SymmetricKey(data: bytes), algorithm: algorithm)
  }

  // MARK: One key

  private func key(_ package: XMLElement, index: Int, encryptionKey: SymmetricKey?, macKey: MACKey?)
    throws(PSKCError)
    -> PSKCKey
  {
    guard let key = package.child("Key") else { throw .missing("Key in KeyPackage \(index + 1)") }
    let id = key.attributes["Id"] ?? "#\(index + 1)"
    let algorithmURI = key.attributes["Algorithm"] ?? ""
    guard algorithmURI.hasSuffix(":hotp") || algorithmURI.hasSuffix("#hotp") else {
      throw .unsupported("algorithm \"\(algorithmURI)\" of key \(id): only HOTP tokens are imported")
    }
    var algorithm = HashAlgorithm.sha1
    if let suite = key.at("AlgorithmParameters", "Suite")?.trimmedText, !suite.isEmpty {
      guard let parsed = HashAlgorithm(name: suite) else { throw .unsupported("suite \(suite) of key \(id)") }
      algorithm = parsed
    }
    var digits = 6
    if let format = key.at("AlgorithmParameters", "ResponseFormat") {
      guard format.attributes["Encoding"].map({ $0.uppercased() == "DECIMAL" }) ?? true else {
        throw .unsupported("response encoding \(format.attributes["Encoding"]!) of key \(id)")
      }
      guard let length = Int(format.attributes["Length"] ?? ""), OTPCode.allowedDigits.contains(length) else {
        throw .invalidValue("ResponseFormat Length of key \(id) must be 6 to 8")
      }
      digits = length
    }
    guard let secretElement = key.at("Data", "Secret") else { throw .missing("Data/Secret of key \(id)") }
    let secret = try value(
      secretElement, name: "the secret of key \(id)", encryptionKey: encryptionKey, mac: macKey, keyID: id)
    guard (16...64).contains(secret.count) else {
      throw .invalidValue("the secret of key \(id) is \(secret.count) bytes; 16 to 64 expected")
    }
    var counter: UInt64 = 0
    if let counterElement = key.at("Data", "Counter") {
      if let plain = counterElement.child("PlainValue") {
        guard let value = UInt64(plain.trimmedText) else {
          throw .invalidValue(
            "the counter of key \(id) is not a whole number from 0 to \(HOTPState.maximumCounter)")
        }
        counter = value
      } else {
        let bytes = try value(
          counterElement, name: "the counter of key \(id)", encryptionKey: encryptionKey, mac: macKey,
          keyID: id)
        guard bytes.count <= 8 else { throw .invalidValue("the counter of key \(id) is over 8 bytes") }
        counter = bytes.reduce(0) { $0 << 8 | UInt64($1) }
      }
      guard counter <= HOTPState.maximumCounter else {
        throw .invalidValue(
          "the counter of key \(id) is \(counter); a token's counter may be at most \(HOTPState.maximumCounter)"
        )
      }
    }
    let serial = package.at("DeviceInfo", "SerialNo")?.trimmedText ?? id
    guard !serial.isEmpty, serial.count <= 64 else {
      throw .invalidValue("serial of key \(id) must be 1 to 64 characters")
    }
    return PSKCKey(
      id: id, serial: serial, secret: OTPSecret(bytes: secret), counter: counter, digits: digits,
      algorithm: algorithm, issuer: key.child("Issuer")?.trimmedText)
  }

  /// A value element's bytes: PlainValue (base64), or EncryptedValue decrypted after its ValueMAC
  /// (if the file has a MAC key) is checked over the CipherValue.
  private func value(
    _ element: XMLElement, name: String, encryptionKey: SymmetricKey?, mac: MACKey?, keyID: String
  )
    throws(PSKCError) -> [UInt8]
  {
    if let plain = element.child("PlainValue") {
      guard let data = Data(base64Encoded: plain.trimmedText, options: .ignoreUnknownCharacters) else {
        throw .invalidValue("\(name) is not base64")
      }
      return Array(data)
    }
    let encrypted = element.child("EncryptedValue") ?? (element.child("CipherData") != nil ? element : nil)
    guard let encrypted else { throw .missing("PlainValue or EncryptedValue for \(name)") }
    guard let encryptionKey else { throw .missing("EncryptionKey: \(name) is encrypted") }
    guard let method = encrypted.child("EncryptionMethod")?.attributes["Algorithm"] else {
      throw .missing("EncryptionMethod for \(name)")
    }
    guard
      method.hasSuffix("#aes128-cbc") || method.hasSuffix("#aes192-cbc") || method.hasSuffix("#aes256-cbc")
    else {
      throw .unsupported("encryption \(method) for \(name)")
    }
    guard let cipherText = encrypted.at("CipherData", "CipherValue")?.trimmedText,
      let cipher = Data(base64Encoded: cipherText, options: .ignoreUnknownCharacters), cipher.count >= 32,
      cipher.count % 16 == 0
    else { throw .invalidValue("CipherValue of \(name) is not base64 of IV and whole AES blocks") }
    if let mac {
      guard let macText = element.child("ValueMAC")?.trimmedText,
        let expected = Data(base64Encoded: macText, options: .ignoreUnknownCharacters)
      else {
        throw .missing("ValueMAC for \(name): the file has a MAC key, so every encrypted value needs one")
      }
      let actual: [UInt8]
      switch mac.algorithm {
      case "hmac-sha256": actual = Array(HMAC<SHA256>.authenticationCode(for: cipher, using: mac.key))
      case "hmac-sha512": actual = Array(HMAC<SHA512>.authenticationCode(for: cipher, using: mac.key))
      default: actual = Array(HMAC<Insecure.SHA1>.authenticationCode(for: cipher, using: mac.key))
      }
      guard ConstantTime.equals(actual, Array(expected)) else { throw .badMAC(key: keyID) }
    }
    do {
      let iv = try AES._CBC.IV(ivBytes: cipher.prefix(16))
      return Array(try AES._CBC.decrypt(cipher.dropFirst(16), using: encryptionKey, iv: iv))
    } catch { throw .decryption("\(name): wrong key or damaged data") }
  }
}
