import Crypto
import Foundation

/// A secret encrypted at rest: AES-256-GCM under the master key `keyID`, with the factor's identity
/// as associated data so a sealed secret cannot be moved to another row.
public struct SealedSecret: Sendable, Equatable {
  public var keyID: String
  /// nonce ‖ ciphertext ‖ tag.
  public var combined: [UInt8]

  public init(keyID: String, combined: [UInt8]) {
    self.keyID = keyID
    self.combined = combined
  }
}

/// The master keys that seal secrets, kept outside the database. One is current (new secrets are
/// sealed with it); older ones still open what they sealed, so keys can rotate.
///
/// File format: one key per line, `ID BASE64` (32 bytes of key); the first line is current.
/// Created with mode 0600; a key file readable by others is refused.
public struct MasterKeyRing: Sendable {
  public let currentID: String
  private let keys: [String: SymmetricKey]

  public init(keys: [(id: String, key: SymmetricKey)]) throws(VerifierError) {
    guard let first = keys.first else { throw .keyFile("the key ring is empty") }
    for entry in keys {
      guard entry.key.bitCount == 256 else { throw .keyFile("key \(entry.id) is not 256 bits") }
      guard !entry.id.isEmpty, entry.id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
        throw .keyFile("key id \"\(entry.id)\" must be letters, digits and dashes")
      }
    }
    currentID = first.id
    self.keys = Dictionary(keys.map { ($0.id, $0.key) }, uniquingKeysWith: { a, _ in a })
  }

  /// A ring with one fresh random key.
  public static func generate(id: String = "k1") -> MasterKeyRing {
    try! MasterKeyRing(keys: [(id, SymmetricKey(size: .bits256))])
  }

  /// Reads a key file.
  public static func load(path: String) throws(VerifierError) -> MasterKeyRing {
    var info = stat()
    guard stat(path, &info) == 0 else {
      throw .keyFile("cannot read \(path): \(String(cString: strerror(errno)))")
    }
    guard info.st_mode & 0o077 == 0 else {
      throw .keyFile(
        "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 \(path)")
    }
    guard let data = FileManager.default.contents(atPath: path), data.count < 65536 else {
      throw .keyFile("cannot read \(path)")
    }
    var entries: [(id: String, key: SymmetricKey)] = []
    for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
      let parts = line.split(separator: " ")
      guard parts.count == 2, let bytes = Data(base64Encoded: String(parts[1])), bytes.count == 32 else {
        throw .keyFile("\(path) line \(number + 1) is not \"ID BASE64\" with a 32-byte key")
      }
      entries.append((String(parts[0]), SymmetricKey(data: bytes)))
    }
    return try MasterKeyRing(keys: entries)
  }

  /// Reads the key file, or creates it (mode 0600, with one fresh key) if it does not exist.
  public static func loadOrCreate(path: String) throws(VerifierError) -> MasterKeyRing {
    if FileManager.default.fileExists(atPath: path) { return try load(path: path) }
    let ring = generate()
    try ring.write(to: path)
    return ring
  }

  /// Writes the ring to a new file created 0600 (never over an existing one).
  public func write(to path: String) throws(VerifierError) {
    let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .keyFile("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var ordered = [currentID] + keys.keys.filter { $0 != currentID }.sorted()
    ordered = ordered.filter { keys[$0] != nil }
    let text =
      ordered.map { id in
        "\(id) " + keys[id]!.withUnsafeBytes { Data($0) }.base64EncodedString()
      }.joined(separator: "\n") + "\n"
    let bytes = Array(text.utf8)
    guard Glibc.write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
      throw .keyFile("cannot write \(path): \(String(cString: strerror(errno)))")
    }
  }

  /// Seals `secret` for the factor named `context` under the current key.
  public func seal(_ secret: [UInt8], context: String) throws(VerifierError) -> SealedSecret {
    do {
      let box = try AES.GCM.seal(secret, using: keys[currentID]!, authenticating: Array(context.utf8))
      return SealedSecret(keyID: currentID, combined: Array(box.combined!))
    } catch { throw .sealing("cannot seal: \(error)") }
  }

  /// Opens a sealed secret; fails if the key is unknown, or the data or its context was altered.
  public func open(_ sealed: SealedSecret, context: String) throws(VerifierError) -> [UInt8] {
    guard let key = keys[sealed.keyID] else {
      throw .sealing("the secret is sealed with key \(sealed.keyID), which is not in the key file")
    }
    do {
      let box = try AES.GCM.SealedBox(combined: sealed.combined)
      return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
    } catch { throw .sealing("a sealed secret failed its integrity check (wrong key file?)") }
  }

  /// A key for one purpose (keyed hashes of recovery codes, application passwords) derived from
  /// each master key with HKDF, current key first; a hash made under an older key still matches.
  public func derivedKeys(purpose: String) -> [SymmetricKey] {
    let ordered = [currentID] + keys.keys.filter { $0 != currentID }.sorted()
    return ordered.compactMap { id in
      keys[id].map {
        HKDF<SHA256>.deriveKey(
          inputKeyMaterial: $0, info: Array("otptoken \(purpose)".utf8), outputByteCount: 32)
      }
    }
  }

  /// Whether `id` is in the ring.
  public func contains(_ id: String) -> Bool { keys[id] != nil }
}
