import Crypto
import CryptoExtras
import Foundation

/// What a login attempt came to.
public enum LoginOutcome: Sendable, Equatable {
  /// Let in; `via` names what proved it: "password" (no second factor needed), "totp", "hotp:SERIAL",
  /// "recovery", "app-password:NAME".
  case allowed(via: String)
  /// Let in for now, but two-step login becomes mandatory at the deadline (milliseconds).
  case allowedUntilDeadline(Int64)
  /// The password was right; a code from a factor (or a recovery code) is needed.
  case codeRequired
  /// Two-step login is mandatory and the deadline has passed: the user must enrol a factor first.
  case enrollmentRequired
  /// Refused; the reason is for logs and administrators, not for the person logging in.
  case refused(String)
}

extension Accounts {
  // MARK: Users

  /// Creates a user, with an account password if given (the verifier then runs the whole login).
  /// The name is checked and normalised by ``UserName/checked(_:)``.
  public func createUser(name: String, password: String? = nil, source: String? = nil) throws(VerifierError) {
    let name = try UserName.checked(name)
    if let password, password.isEmpty || password.utf8.count > 1024 {
      throw .invalidInput("a password is 1 to 1024 bytes")
    }
    do {
      _ = try store.createUser(
        name: name,
        audit: AuditEntry(
          at: now, user: name, factor: nil, action: "user-add", result: "done", reason: "created",
          source: source))
    } catch {
      if case .conflict = error { throw .conflict("user \(name) exists already") }
      throw .store(error)
    }
    if let password { try setPassword(user: name, password: password) }
  }

  // MARK: Policy

  /// Makes two-step login mandatory for everyone or a group, from a deadline on.
  public func setPolicy(_ policy: LoginPolicy) throws(VerifierError) {
    try storeCall { () throws(StoreError) in
      try store.setLoginPolicy(
        policy,
        audit: AuditEntry(
          at: now, user: nil, factor: nil, action: "policy-set", result: "done",
          reason: "\(policy.mandatoryFor)"))
    }
  }

  public func policy() throws(VerifierError) -> LoginPolicy {
    try storeCall { () throws(StoreError) in try store.loginPolicy() }
  }

  /// Sets the groups a user belongs to (for group policies).
  public func setGroups(user name: String, groups: [String]) throws(VerifierError) {
    let user = try hotp.lookUp(name)
    var account = try storeCall { () throws(StoreError) in try store.account(userID: user.id) }
    account.groups = groups
    try storeCall { () throws(StoreError) in
      try store.updateAccount(
        userID: user.id, account, audit: audit(name, nil, "groups-set", "done", groups.joined(separator: ","))
      )
    }
  }

  /// Turns two-step login off for one user for `days` days; it comes back by itself.
  public func disableSecondFactor(user name: String, days: Int) throws(VerifierError) {
    guard (0...365).contains(days) else { throw .invalidInput("days must be 0 to 365") }
    let user = try hotp.lookUp(name)
    var account = try storeCall { () throws(StoreError) in try store.account(userID: user.id) }
    account.secondFactorOffUntil = days == 0 ? nil : now + Int64(days) * 86_400_000
    try storeCall { () throws(StoreError) in
      try store.updateAccount(
        userID: user.id, account, audit: audit(name, nil, "second-factor-off", "done", "\(days) days"))
    }
  }

  // MARK: Login

  /// The login of the seed documents: the password, then a code from any of the user's factors (or a
  /// recovery code); or an application password alone. With `checkPassword: false` the calling
  /// application has checked the password itself and only the second step runs.
  ///
  /// A password is too slow to check inside a store's transaction, so its attempt is charged first,
  /// atomically, and cleared if it was right: however many arrive at once, no more are evaluated
  /// than the throttle allows.
  ///
  /// The password hash and the store's blocking calls run on a thread of their own, never on the
  /// caller's task pool.
  public func login(
    user name: String, password: String?, code: String?, checkPassword: Bool = true, source: String? = nil
  ) async throws(VerifierError) -> LoginOutcome {
    let name = try UserName.checked(name)
    let found = try await offloaded { () throws(VerifierError) in
      try storeCall { () throws(StoreError) -> (UserRecord, AccountRecord)? in
        guard let user = try store.user(named: name) else { return nil }
        return (user, try store.account(userID: user.id))
      }
    }
    guard let (user, account) = found else {
      // As long as a wrong password takes, and answered the same, so the answer does not say
      // whether the name exists.
      if checkPassword, let password {
        let rounds = settings.passwordRounds
        _ = try? await offloaded { () throws(VerifierError) in try PasswordHash.make(password, rounds: rounds)
        }
      }
      return .refused(checkPassword ? Self.wrongCredentials : "unknown user")
    }
    if checkPassword {
      guard let password else { return .refused("no password") }
      let charged = try await run(name, .attempts, source) { planner, snapshot in
        planner.charge(.password, snapshot)
      }
      guard charged.decision.reason == .wrongCode else { return .refused(charged.decision.reason.rawValue) }
      let via = try await offloaded { () throws(VerifierError) in
        try passwordField(user, account, password, source)
      }
      guard let via else { return .refused(Self.wrongCredentials) }
      _ = try await run(name, .attempts, source) { planner, snapshot in planner.clear(.password, snapshot) }
      if via != "password" { return .allowed(via: via) }
    }
    // The second step.
    if let off = account.secondFactorOffUntil, now < off { return .allowed(via: "password") }
    let mandatory = try await offloaded { () throws(VerifierError) in try enrolmentDue(user, account) }
    switch mandatory {
    case .some(let deadline?): return .allowedUntilDeadline(deadline)
    case .some(nil): return .enrollmentRequired
    case nil: break
    }
    if try await offloaded({ () throws(VerifierError) in try !hasFactor(user) }) {
      return .allowed(via: "password")
    }
    guard let code, !code.isEmpty else { return .codeRequired }
    let decision = try await verify(user: name, code: code, source: source)
    guard decision.isAccepted else { return .refused(decision.reason.rawValue) }
    return .allowed(via: decision.factor ?? "code")
  }

  /// The one refusal for an unknown user and a wrong password; the audit log keeps which it was.
  public static let wrongCredentials = "wrong user name or password"

  /// What the password field proves, its attempt having been charged: "password", the
  /// application password "app-password:NAME", or nil (recorded as a wrong password).
  func passwordField(_ user: UserRecord, _ account: AccountRecord, _ password: String, _ source: String?)
    throws(VerifierError) -> String?
  {
    if let hash = account.passwordHash, PasswordHash.verify(password, against: hash) { return "password" }
    if let label = try useAppPassword(user, password) { return "app-password:\(label)" }
    try storeCall { () throws(StoreError) in
      try store.append(
        AuditEntry(
          at: now, user: user.name, factor: AttemptKind.password.rawValue, action: "login", result: "refused",
          reason: "wrong-password", source: source))
    }
    return nil
  }

  /// Whether the user has an active token or phone app.
  func hasFactor(_ user: UserRecord) throws(VerifierError) -> Bool {
    try storeCall { () throws(StoreError) -> Bool in
      if try store.hotpFactors(userID: user.id).contains(where: \.active) { return true }
      return try store.totpFactors(userID: user.id).contains(where: \.state.active)
    }
  }

  /// For the pages: whether the policy obliges the user to enrol a factor, as
  /// ``enrolmentDue(_:_:)`` answers it.
  public func enrolmentDeadline(user name: String) throws(VerifierError) -> Int64?? {
    let user = try hotp.lookUp(name)
    let account = try storeCall { () throws(StoreError) in try store.account(userID: user.id) }
    if let off = account.secondFactorOffUntil, now < off { return nil }
    return try enrolmentDue(user, account)
  }

  /// For a user without a factor whom the policy obliges to enrol one: the deadline until which
  /// the password alone still lets them in (`.some(nil)`: passed, or none). nil: not obliged, or
  /// the user has a factor.
  func enrolmentDue(_ user: UserRecord, _ account: AccountRecord) throws(VerifierError) -> Int64?? {
    guard try !hasFactor(user) else { return nil }
    let policy = try storeCall { () throws(StoreError) in try store.loginPolicy() }
    switch policy.mandatoryFor {
    case .nobody: return nil
    case .everyone: break
    case .group(let group): if !account.groups.contains(group) { return nil }
    }
    if let deadline = policy.deadline, now < deadline { return .some(deadline) }
    return .some(nil)
  }
}

/// Runs blocking work (a store's calls, a password hash) on a thread of its own, so that an async
/// caller parks no thread of its task pool.
func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws(VerifierError) -> T)
  async throws(VerifierError)
  -> T
{
  let result = await withCheckedContinuation {
    (continuation: CheckedContinuation<Result<T, VerifierError>, Never>) in
    DispatchQueue.global().async {
      continuation.resume(returning: Result { () throws(VerifierError) in try body() })
    }
  }
  return try result.get()
}

/// Account password hashes: PBKDF2-HMAC-SHA256 with a 16-byte random salt, written as
/// `pbkdf2-sha256$ROUNDS$SALT$HASH` (base64), compared in constant time.
public enum PasswordHash {
  public static func make(_ password: String, rounds: Int) throws(VerifierError) -> String {
    var generator = SystemRandomNumberGenerator()
    let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let hash = try derive(password, salt: salt, rounds: rounds)
    return "pbkdf2-sha256$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
  }

  public static func verify(_ password: String, against stored: String) -> Bool {
    let parts = stored.split(separator: "$")
    guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]),
      (1...10_000_000).contains(rounds),
      let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
      let actual = try? derive(password, salt: Array(salt), rounds: rounds)
    else { return false }
    var difference: UInt8 = actual.count == expected.count ? 0 : 1
    for (a, b) in zip(actual, expected) { difference |= a ^ b }
    return difference == 0
  }

  static func derive(_ password: String, salt: [UInt8], rounds: Int) throws(VerifierError) -> [UInt8] {
    do {
      let key = try KDF.Insecure.PBKDF2.deriveKey(
        from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32,
        unsafeUncheckedRounds: rounds)
      return key.withUnsafeBytes { Array($0) }
    } catch { throw .sealing("password hashing failed: \(error)") }
  }
}
