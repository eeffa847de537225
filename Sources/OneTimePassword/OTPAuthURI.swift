import Foundation

/// An `otpauth://` URI as authenticator apps read it from a QR code (Google Authenticator's Key
/// Uri Format): `otpauth://TYPE/ISSUER:ACCOUNT?secret=BASE32&issuer=...&algorithm=...&digits=...`
/// with `period` for TOTP and `counter` for HOTP.
public struct OTPAuthURI: Sendable, Equatable {
  public enum Kind: String, Sendable { case hotp, totp }

  public var kind: Kind
  public var issuer: String?
  public var account: String
  public var secret: OTPSecret
  public var algorithm: HashAlgorithm
  public var digits: Int
  /// TOTP step in seconds.
  public var period: Int
  /// HOTP initial counter.
  public var counter: UInt64

  public init(
    kind: Kind, issuer: String?, account: String, secret: OTPSecret,
    algorithm: HashAlgorithm = .sha1, digits: Int = 6, period: Int = 30, counter: UInt64 = 0
  ) {
    self.kind = kind
    self.issuer = issuer
    self.account = account
    self.secret = secret
    self.algorithm = algorithm
    self.digits = digits
    self.period = period
    self.counter = counter
  }

  /// Parses a URI, naming exactly what is wrong with a bad one.
  public init(parsing text: String) throws(OTPAuthURIError) {
    guard text.utf8.count <= 4096 else { throw .malformed("longer than 4096 characters") }
    guard let components = URLComponents(string: text) else { throw .malformed("not a URI") }
    guard components.scheme?.lowercased() == "otpauth" else {
      throw .wrongScheme(components.scheme ?? "")
    }
    guard let host = components.host?.lowercased(), let kind = Kind(rawValue: host) else {
      throw .unknownType(components.host ?? "")
    }
    // The label is split at its first literal colon before it is decoded, so an issuer holding an
    // encoded colon (%3A) stays whole.
    var label = components.percentEncodedPath
    if label.hasPrefix("/") { label.removeFirst() }
    guard !label.isEmpty else { throw .missingLabel }
    func decoded(_ part: Substring) throws(OTPAuthURIError) -> String {
      guard let text = String(part).removingPercentEncoding else {
        throw .malformed("bad percent-encoding in the label")
      }
      return text.trimmingCharacters(in: .whitespaces)
    }
    let labelIssuer: String?
    let account: String
    if let colon = label.firstIndex(of: ":") {
      labelIssuer = try decoded(label[..<colon])
      account = try decoded(label[label.index(after: colon)...])
    } else {
      labelIssuer = nil
      account = try decoded(label[...])
    }
    guard !account.isEmpty else { throw .missingLabel }

    var parameters: [String: String] = [:]
    for item in components.queryItems ?? [] {
      let name = item.name.lowercased()
      guard parameters[name] == nil else { throw .duplicateParameter(name) }
      parameters[name] = item.value ?? ""
    }
    guard let secretText = parameters["secret"], !secretText.isEmpty else { throw .missingSecret }
    let secret: OTPSecret
    do { secret = try OTPSecret(base32: secretText) } catch { throw .invalidSecret(error.description) }

    let issuer: String?
    switch (labelIssuer, parameters["issuer"]?.trimmingCharacters(in: .whitespaces)) {
    case (let l?, let p?) where l != p: throw .issuerMismatch(label: l, parameter: p)
    case (_, let p?): issuer = p
    case (let l, nil): issuer = l
    }

    var algorithm = HashAlgorithm.sha1
    if let name = parameters["algorithm"] {
      guard let parsed = HashAlgorithm(name: name) else { throw .invalidAlgorithm(name) }
      algorithm = parsed
    }
    var digits = 6
    if let text = parameters["digits"] {
      guard let value = Int(text), OTPCode.allowedDigits.contains(value) else {
        throw .invalidDigits(text)
      }
      digits = value
    }
    var period = 30
    if let text = parameters["period"] {
      guard kind == .totp else { throw .parameterNotForType("period", kind.rawValue) }
      guard let value = Int(text), (1...3600).contains(value) else { throw .invalidPeriod(text) }
      period = value
    }
    var counter: UInt64 = 0
    if kind == .hotp {
      guard let text = parameters["counter"] else { throw .missingCounter }
      guard let value = UInt64(text) else { throw .invalidCounter(text) }
      counter = value
    } else if parameters["counter"] != nil {
      throw .parameterNotForType("counter", kind.rawValue)
    }
    self.init(
      kind: kind, issuer: issuer, account: account, secret: secret, algorithm: algorithm,
      digits: digits, period: period, counter: counter)
  }

  /// The URI text, label and values percent-encoded.
  public var string: String {
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@"))
    func encode(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }
    var label = encode(account)
    if let issuer { label = encode(issuer) + ":" + label }
    var query = ["secret=\(secret.base32)"]
    if let issuer { query.append("issuer=\(encode(issuer))") }
    query.append("algorithm=\(algorithm.rawValue)")
    query.append("digits=\(digits)")
    switch kind {
    case .totp: query.append("period=\(period)")
    case .hotp: query.append("counter=\(counter)")
    }
    return "otpauth://\(kind.rawValue)/\(label)?" + query.joined(separator: "&")
  }
}

/// What is wrong with an otpauth URI.
public enum OTPAuthURIError: Error, Equatable, Sendable, CustomStringConvertible {
  case malformed(String)
  case wrongScheme(String)
  case unknownType(String)
  case missingLabel
  case missingSecret
  case invalidSecret(String)
  case issuerMismatch(label: String, parameter: String)
  case invalidAlgorithm(String)
  case invalidDigits(String)
  case invalidPeriod(String)
  case missingCounter
  case invalidCounter(String)
  case duplicateParameter(String)
  case parameterNotForType(String, String)

  public var description: String {
    switch self {
    case .malformed(let why): return "malformed otpauth URI: \(why)"
    case .wrongScheme(let s): return "scheme is \"\(s)\", expected \"otpauth\""
    case .unknownType(let t): return "type \"\(t)\" is neither \"totp\" nor \"hotp\""
    case .missingLabel: return "the URI has no account label"
    case .missingSecret: return "the URI has no secret parameter"
    case .invalidSecret(let why): return "secret parameter: \(why)"
    case .issuerMismatch(let l, let p):
      return "issuer \"\(l)\" in the label differs from issuer parameter \"\(p)\""
    case .invalidAlgorithm(let a): return "algorithm \"\(a)\" is not SHA1, SHA256 or SHA512"
    case .invalidDigits(let d): return "digits \"\(d)\" must be 6, 7 or 8"
    case .invalidPeriod(let p): return "period \"\(p)\" must be 1 to 3600 seconds"
    case .missingCounter: return "an hotp URI needs a counter parameter"
    case .invalidCounter(let c): return "counter \"\(c)\" is not a non-negative integer"
    case .duplicateParameter(let n): return "parameter \"\(n)\" appears twice"
    case .parameterNotForType(let n, let t): return "parameter \"\(n)\" does not belong to a \(t) URI"
    }
  }
}
