import Crypto
import Foundation

/// The hash under an HOTP/TOTP HMAC.
public enum HashAlgorithm: String, Sendable, Hashable, Codable, CaseIterable {
  case sha1 = "SHA1"
  case sha256 = "SHA256"
  case sha512 = "SHA512"

  /// The algorithm from a name such as "SHA1", "sha-256" or "HMAC-SHA512".
  public init?(name: String) {
    let plain = name.uppercased().replacingOccurrences(of: "-", with: "")
      .replacingOccurrences(of: "HMAC", with: "")
    self.init(rawValue: plain)
  }
}

/// Computes HOTP values (RFC 4226) for one secret, fast: the HMAC key schedule is computed once, so
/// every further counter costs two SHA-1 compressions (SHA-256 and SHA-512 go through
/// swift-crypto).
public struct HOTPGenerator: Sendable {
  public let algorithm: HashAlgorithm
  public let digits: Int
  @usableFromInline let modulus: UInt32
  /// ⌈2⁶⁴ / modulus⌉, so that the remainder takes two multiplications instead of a division
  /// (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
  @usableFromInline let reciprocal: UInt64
  @usableFromInline let engine: Engine

  @usableFromInline
  enum Engine: Sendable {
    case sha1(HMACSHA1Counter)
    case sha256(SymmetricKey)
    case sha512(SymmetricKey)
  }

  /// A generator for `secret`; `digits` must be 6 to 8 (RFC 4226 allows more, tokens do not).
  /// `engine` computes SHA-1 (the process's choice unless a benchmark or test asks for one).
  public init(
    secret: OTPSecret, algorithm: HashAlgorithm = .sha1, digits: Int = 6, engine: SHA1Engine = .current
  ) throws(OTPError) {
    guard OTPCode.allowedDigits.contains(digits) else { throw .invalidDigits(digits) }
    guard !secret.bytes.isEmpty else { throw .emptySecret }
    self.algorithm = algorithm
    self.digits = digits
    var m: UInt32 = 1
    for _ in 0..<digits { m *= 10 }
    modulus = m
    reciprocal = UInt64.max / UInt64(m) &+ 1
    switch algorithm {
    case .sha1:
      let key = secret.bytes.count > 64 ? Array(Insecure.SHA1.hash(data: secret.bytes)) : secret.bytes
      self.engine = .sha1(HMACSHA1Counter(key: key, engine: engine))
    case .sha256: self.engine = .sha256(SymmetricKey(data: secret.bytes))
    case .sha512: self.engine = .sha512(SymmetricKey(data: secret.bytes))
    }
  }

  /// The dynamically truncated 31-bit value for `counter`, before reduction to digits.
  @inlinable
  public func truncated(counter: UInt64) -> UInt32 {
    switch engine {
    case .sha1(let hmac): return hmac.mac(counter: counter).truncated
    case .sha256(let key):
      return Self.truncate(Array(HMAC<SHA256>.authenticationCode(for: Self.bigEndian(counter), using: key)))
    case .sha512(let key):
      return Self.truncate(Array(HMAC<SHA512>.authenticationCode(for: Self.bigEndian(counter), using: key)))
    }
  }

  /// The code's numeric value for `counter` (compare it with ``OTPCode/value``).
  @inlinable
  public func value(counter: UInt64) -> UInt32 { reduce(truncated(counter: counter)) }

  /// `truncated` modulo 10^digits.
  @inlinable @inline(__always)
  func reduce(_ truncated: UInt32) -> UInt32 {
    let fraction = reciprocal &* UInt64(truncated)
    return UInt32(truncatingIfNeeded: UInt64(modulus).multipliedFullWidth(by: fraction).high)
  }

  /// The code for `counter`, with leading zeros.
  public func code(counter: UInt64) -> OTPCode {
    OTPCode(value: value(counter: counter), digits: digits)
  }

  /// Looks for `code` among the counters `start ..< start + count`, always evaluating every
  /// candidate so that the time taken does not say where (or whether) it matched. Returns the
  /// lowest matching counter.
  public func find(_ code: OTPCode, from start: UInt64, count: Int) -> UInt64? {
    guard code.digits == digits, count > 0 else { return nil }
    let target = code.value
    var found: UInt64 = 0
    var matched: UInt64 = 0
    func consider(_ counter: UInt64, _ isMatch: Bool) {
      let isMatch = UInt64(isMatch ? 1 : 0) & ~matched
      found |= counter & (0 &- isMatch)
      matched |= isMatch
    }
    if case .sha1(let hmac) = engine {
      // truncated ≡ target (mod 10^digits) iff truncated + 10^digits − target is a multiple of
      // 10^digits, which one multiplication tells (Lemire, Kaser and Kurz): no remainder needed.
      let shift = UInt64(modulus - target)
      hmac.forEachTruncated(from: start, count: count) { counter, truncated in
        consider(counter, (UInt64(truncated) &+ shift) &* reciprocal <= reciprocal &- 1)
      }
    } else {
      var counter = start
      for _ in 0..<count {
        consider(counter, value(counter: counter) == target)
        counter &+= 1
      }
    }
    return matched == 1 ? found : nil
  }

  /// Looks for two consecutive codes: the lowest counter `i` among `start ..< start + count` whose
  /// code is `first` while the code of `i + 1` is `second`. Every one of the `count + 1` candidates
  /// is evaluated, wherever (and whether) the pair is.
  public func findConsecutive(_ first: OTPCode, _ second: OTPCode, from start: UInt64, count: Int) -> UInt64?
  {
    guard first.digits == digits, second.digits == digits, count > 0 else { return nil }
    var found: UInt64 = 0
    var matched: UInt64 = 0
    var previousIsFirst: UInt64 = 0
    func consider(_ counter: UInt64, _ value: UInt32) {
      let isMatch = previousIsFirst & UInt64(value == second.value ? 1 : 0) & ~matched
      found |= (counter &- 1) & (0 &- isMatch)
      matched |= isMatch
      previousIsFirst = UInt64(value == first.value ? 1 : 0)
    }
    if case .sha1(let hmac) = engine {
      hmac.forEachTruncated(from: start, count: count + 1) { consider($0, reduce($1)) }
    } else {
      var counter = start
      for _ in 0...count {
        consider(counter, value(counter: counter))
        counter &+= 1
      }
    }
    return matched == 1 ? found : nil
  }

  @usableFromInline
  static func bigEndian(_ counter: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64($0))) }
  }

  @usableFromInline
  static func truncate(_ mac: [UInt8]) -> UInt32 {
    let offset = Int(mac[mac.count - 1] & 0x0F)
    return (UInt32(mac[offset]) & 0x7F) << 24 | UInt32(mac[offset + 1]) << 16
      | UInt32(mac[offset + 2]) << 8 | UInt32(mac[offset + 3])
  }
}

/// Computes TOTP codes (RFC 6238): HOTP over the number of `period`-second steps since `epoch`.
public struct TOTPGenerator: Sendable {
  public let hotp: HOTPGenerator
  public let period: Int
  public let epoch: Int64

  public init(
    secret: OTPSecret, algorithm: HashAlgorithm = .sha1, digits: Int = 6, period: Int = 30,
    epoch: Int64 = 0
  ) throws(OTPError) {
    guard period > 0 else { throw .invalidPeriod(period) }
    hotp = try HOTPGenerator(secret: secret, algorithm: algorithm, digits: digits)
    self.period = period
    self.epoch = epoch
  }

  /// The time step at `unixTime` seconds.
  public func step(at unixTime: Int64) -> Int64 {
    let elapsed = unixTime - epoch
    let p = Int64(period)
    return elapsed >= 0 ? elapsed / p : -((-elapsed + p - 1) / p)
  }

  /// The code of one time step.
  public func code(step: Int64) -> OTPCode { hotp.code(counter: UInt64(bitPattern: step)) }

  /// The code valid at `unixTime` seconds.
  public func code(at unixTime: Int64) -> OTPCode { code(step: step(at: unixTime)) }
}
