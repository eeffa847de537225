import Foundation

/// What the one password field of other software may hold, per caller: the protocols that ask for
/// a code (privacyIDEA's `/validate/check`, RADIUS) carry a single secret at a time.
public enum PassField: String, Sendable, Codable, CaseIterable {
  /// The account password (answered with a challenge for the code), or the password followed by
  /// the code ("PIN+OTP"), or an application password.
  case password
  /// The code alone: the caller has checked the password itself.
  case code
}

/// The answer of a one-field validation.
public enum ValidationAnswer: Sendable, Equatable {
  /// Let in; `via` as in ``LoginOutcome/allowed(via:)``.
  case accept(via: String)
  /// The password was right and a code is due: ask for it, quoting `transaction`.
  case challenge(transaction: String, expiresAt: Int64)
  /// Refused; the reason is for logs and administrators.
  case reject(String)
}

extension ValidationAnswer: CustomStringConvertible {
  /// For logs: "accept", "challenge" or "reject (why)", never a secret.
  public var description: String {
    switch self {
    case .accept: "accept"
    case .challenge: "challenge"
    case .reject(let why): "reject (\(why))"
    }
  }
}

extension Accounts {
  /// How long a challenge waits for its code.
  public static let challengeMilliseconds: Int64 = 120_000

  /// Validates what another program's single password field carries, as privacyIDEA's clients and
  /// RADIUS clients send it:
  /// - with a `transaction` (a challenge answered earlier), `pass` is the code. The transaction
  ///   must be live and the user's; it is used up by this answer, whatever it is.
  /// - otherwise, with `.password`: the password alone is answered with a challenge when a code is
  ///   due; if it is not the password, a trailing 6 or 8 digits are tried as a code after the
  ///   password ("PIN+OTP"). An application password alone is accepted.
  /// - with `.code`: `pass` is the code, the caller having checked the password.
  ///
  /// Every password and code goes through ``login(user:password:code:checkPassword:source:)``, so
  /// its attempt is charged before it is evaluated.
  public func validate(
    user name: String, pass: String, transaction: String?, field: PassField, source: String?
  ) async throws(VerifierError) -> ValidationAnswer {
    let name = try UserName.checked(name)
    if let transaction {
      let session = try session(id: transaction)
      guard let session, session.stage == .challenge, session.userName == name else {
        return .reject("unknown or expired transaction")
      }
      try endSession(session)
      return answer(
        try await login(user: name, password: nil, code: pass, checkPassword: false, source: source))
    }
    if field == .code {
      return answer(
        try await login(user: name, password: nil, code: pass, checkPassword: false, source: source))
    }
    let outcome = try await login(user: name, password: pass, code: nil, source: source)
    switch outcome {
    case .codeRequired:
      let (id, session) = try startSession(
        user: name, stage: .challenge, lifetime: Self.challengeMilliseconds)
      return .challenge(transaction: id, expiresAt: session.expiresAt)
    case .refused(Self.wrongCredentials):
      // Perhaps the password followed by a code, of a length one of the user's factors has.
      for length in try codeLengths(name) {
        guard let (password, code) = Self.split(pass, codeLength: length) else { continue }
        let outcome = try await login(user: name, password: password, code: code, source: source)
        if case .refused(Self.wrongCredentials) = outcome { continue }
        return answer(outcome)
      }
      return answer(outcome)
    default:
      return answer(outcome)
    }
  }

  func answer(_ outcome: LoginOutcome) -> ValidationAnswer {
    switch outcome {
    case .allowed(let via): .accept(via: via)
    case .allowedUntilDeadline: .accept(via: "password")
    case .codeRequired: .reject("a code is needed")
    case .enrollmentRequired: .reject("two-step login is mandatory: enrol a factor first")
    case .refused(let why): .reject(why)
    }
  }

  /// The lengths of the codes the user's active factors show (6 and 8 at most), shortest first.
  func codeLengths(_ name: String) throws(VerifierError) -> [Int] {
    guard let user = try storeCall({ () throws(StoreError) in try store.user(named: name) }) else {
      return []
    }
    return try storeCall { () throws(StoreError) in
      let tokens = try store.hotpFactors(userID: user.id).filter(\.active).map(\.digits)
      let phones = try store.totpFactors(userID: user.id).filter(\.state.active).map(\.digits)
      return Array(Set(tokens + phones)).sorted()
    }
  }

  /// "s3cret755224" as ("s3cret", "755224") for a 6-digit code: the last `codeLength` characters
  /// when they are digits and a password remains before them.
  static func split(_ pass: String, codeLength: Int) -> (String, String)? {
    let characters = Array(pass)
    guard characters.count > codeLength,
      characters.suffix(codeLength).allSatisfy({ $0.isASCII && $0.isNumber })
    else { return nil }
    return (String(characters.dropLast(codeLength)), String(characters.suffix(codeLength)))
  }
}
