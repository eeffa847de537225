import Crypto
import CryptoExtras
import Foundation
import OneTimePassword

/// Everything of two-step login beyond hardware tokens: phone-app (TOTP) factors, recovery codes,
/// application passwords, the account password, the login flow of the seed documents, and the
/// policy that makes two-step login mandatory. Stateless: all state is in the stores.
public struct Accounts: Sendable {
  public typealias Store = VerifierStore & AccountStore
  public let store: any Store
  public let hotp: HOTPVerifier

  public init(store: any Store, hotp: HOTPVerifier) {
    self.store = store
    self.hotp = hotp
  }

  var keys: MasterKeyRing { hotp.keys }
  var settings: VerifierSettings { hotp.settings }
  var now: Int64 { hotp.clock.nowMilliseconds() }

  func audit(_ user: String, _ factor: String?, _ action: String, _ result: String, _ reason: String)
    -> AuditEntry
  {
    AuditEntry(at: now, user: user, factor: factor, action: action, result: result, reason: reason)
  }

  // MARK: Phone apps (TOTP)

  /// A new phone-app factor, not counting until ``confirmTOTP(user:code:)``: the otpauth URI (for
  /// the QR code) and the secret. Replaces an earlier unconfirmed one.
  public func enrollTOTP(user name: String, issuer: String = "otptoken") throws(VerifierError) -> OTPAuthURI {
    let user = try hotp.lookUp(name)
    let secret = OTPSecret.random(count: 20)
    let sealed = try keys.seal(secret.bytes, context: "totp:\(name)")
    _ = try storeCall { () throws(StoreError) in
      try store.insertTOTPFactor(
        userID: user.id, sealedSecret: sealed, digits: 6, period: 30, algorithm: .sha1,
        audit: audit(name, "totp", "totp-enroll", "done", "created"))
    }
    return OTPAuthURI(kind: .totp, issuer: issuer, account: name, secret: secret)
  }

  func totpGenerator(_ factor: TOTPFactorRecord, user: String) throws(VerifierError) -> TOTPGenerator {
    let secret = try keys.open(factor.sealedSecret, context: "totp:\(user)")
    do {
      return try TOTPGenerator(
        secret: OTPSecret(bytes: secret), algorithm: factor.algorithm, digits: factor.digits,
        period: factor.period)
    } catch { throw .store(.corrupt("phone-app factor of \(user): \(error)")) }
  }

  /// Activates the user's pending phone-app factor with a current code, learning how far the phone's
  /// clock is off (up to ``VerifierSettings/totpMaximumDriftSteps``).
  public func confirmTOTP(user name: String, code text: String) throws(VerifierError) -> Decision {
    let code = try parse(text)
    let user = try hotp.lookUp(name)
    for _ in 0..<HOTPVerifier.raceRetries {
      guard
        let factor = try storeCall({ () throws(StoreError) in try store.totpFactors(userID: user.id) }).first(
          where: { !$0.state.active })
      else { throw .notFound("a pending phone-app enrolment of \(name)") }
      let generator = try totpGenerator(factor, user: name)
      let current = generator.step(at: now / 1000)
      let reach = Int64(settings.totpMaximumDriftSteps)
      // Nearest offset first, so the smallest drift that explains the code is learned.
      let offsets = [Int64(0)] + (1...reach).flatMap { [$0, -$0] }
      guard let offset = offsets.first(where: { generator.code(step: current + $0).constantTimeEquals(code) })
      else {
        var next = factor.state
        next.failures += 1
        guard try casTOTP(factor, next, audit(name, "totp", "totp-confirm", "refused", "wrong-code")) else {
          continue
        }
        return Decision(reason: .wrongCode, factor: "totp")
      }
      let next = TOTPState(
        lastStep: current + offset, driftSteps: offset, active: true, version: factor.state.version)
      guard
        try casTOTP(
          factor, next, audit(name, "totp", "totp-confirm", "accepted", "confirmed drift \(offset)"))
      else { continue }
      return Decision(reason: .accepted, factor: "totp")
    }
    throw .store(.unavailable("the factor kept changing under concurrent requests; try again"))
  }

  func casTOTP(_ factor: TOTPFactorRecord, _ next: TOTPState, _ entry: AuditEntry) throws(VerifierError)
    -> Bool
  {
    try storeCall { () throws(StoreError) in
      try store.compareAndSetTOTP(
        factorID: factor.id, expectedVersion: factor.state.version, newState: next, audit: entry)
    }
  }

  enum TOTPMatch {
    case accepted(TOTPFactorRecord, TOTPState)
    case replay
    case blocked(Decision)
    case noMatch([TOTPFactorRecord])
  }

  /// Which of the user's active phone-app factors a code matches, without writing anything.
  func matchTOTP(_ code: OTPCode, user: UserRecord, factors: [TOTPFactorRecord]? = nil) throws(VerifierError)
    -> TOTPMatch
  {
    let stored: [TOTPFactorRecord]
    if let factors {
      stored = factors
    } else {
      stored = try storeCall { () throws(StoreError) in try store.totpFactors(userID: user.id) }
    }
    let factors = stored.filter(\.state.active)
    var evaluated: [TOTPFactorRecord] = []
    var blocked: Decision?
    let now = self.now
    for factor in factors {
      let state = factor.state
      if state.hardLocked {
        blocked = Decision(reason: .locked, factor: "totp")
        continue
      }
      if let until = state.throttledUntil, now < until {
        blocked = Decision(reason: .throttled, factor: "totp", retryAfterMilliseconds: until - now)
        continue
      }
      let generator = try totpGenerator(factor, user: user.name)
      let center = generator.step(at: now / 1000) + state.driftSteps
      let window = Int64(settings.totpWindow)
      for step in (center - window)...(center + window)
      where generator.code(step: step).constantTimeEquals(code) {
        // Every step is single-use: the last accepted one and all before it are spent.
        if let last = state.lastStep, step <= last { return .replay }
        let current = generator.step(at: now / 1000)
        let reach = Int64(settings.totpMaximumDriftSteps)
        let next = TOTPState(
          lastStep: step, driftSteps: min(reach, max(-reach, step - current)), active: true,
          version: state.version)
        return .accepted(factor, next)
      }
      evaluated.append(factor)
    }
    if evaluated.isEmpty, let blocked { return .blocked(blocked) }
    return .noMatch(evaluated)
  }

  // MARK: Any code

  /// Decides a code against all the user's factors: phone apps and hardware tokens. A code that a
  /// phone app accepts never counts as a failure of a hardware token, and the other way round.
  public func verify(user name: String, code text: String, source: String? = nil) throws(VerifierError)
    -> Decision
  {
    // Most users have hardware tokens only: one store job decides where the store can tell.
    switch try hotp.verifyIfNoPhoneApps(user: name, code: text, source: source) {
    case .decided(let decision): return decision
    case .phoneApps(let read):
      return try verifyWithPhoneApps(user: name, code: text, source: source, read: read)
    }
  }

  /// ``verify(user:code:source:)`` for a caller that must not block its thread: decided without
  /// blocking when the store can wait on its I/O itself and the user has no phone apps. Otherwise
  /// the caller finishes on a thread of its own: with ``verifyWithPhoneApps(user:code:source:read:)``
  /// after ``HOTPVerifier/HardwareOnlyResult/phoneApps(_:)``, with ``verify(user:code:source:)``
  /// after nil.
  public func verifyWithoutBlocking(user name: String, code text: String, source: String? = nil)
    async throws(VerifierError) -> HOTPVerifier.HardwareOnlyResult?
  {
    try await hotp.verifyIfNoPhoneAppsWithoutBlocking(user: name, code: text, source: source)
  }

  /// The rest of ``verify(user:code:source:)`` for a user who has phone apps, once
  /// ``HOTPVerifier/verifyIfNoPhoneApps(user:code:source:)`` said so (`read`: the user and phone
  /// apps it read, if it could).
  public func verifyWithPhoneApps(
    user name: String, code text: String, source: String? = nil, read: (UserRecord, [TOTPFactorRecord])?
  ) throws(VerifierError) -> Decision {
    let code = try parse(text)
    // The user and their phone apps (read by that job, or now); a retry after a lost race reads
    // them again.
    var known = read
    if known == nil {
      known = try storeCall { () throws(StoreError) in try store.userWithTOTPFactors(named: name) }
    }
    guard case (let user, var phones)? = known else { throw .unknownUser(name) }
    for attempt in 0..<HOTPVerifier.raceRetries {
      if attempt > 0 {
        phones = try storeCall { () throws(StoreError) in try store.totpFactors(userID: user.id) }
      }
      switch try matchTOTP(code, user: user, factors: phones) {
      case .accepted(let factor, let next):
        guard try casTOTP(factor, next, audit(name, "totp", "verify", "accepted", "accepted")) else {
          continue
        }
        return Decision(reason: .accepted, factor: "totp")
      case .replay:
        try storeCall { () throws(StoreError) in
          try store.append(audit(name, "totp", "verify", "refused", "replay"))
        }
        return Decision(reason: .replay, factor: "totp")
      case .blocked(let decision):
        let hardware = try hotp.verify(user: name, code: text, source: source, recordNoFactor: false)
        return hardware.reason == .noFactor ? decision : hardware
      case .noMatch(let phones):
        let hardware = try hotp.verify(user: name, code: text, source: source, recordNoFactor: phones.isEmpty)
        if hardware.isAccepted || phones.isEmpty { return hardware }
        for factor in phones {
          _ = try casTOTP(
            factor, failed(factor.state), audit(name, "totp", "verify", "refused", "wrong-code"))
        }
        return hardware.reason == .noFactor ? Decision(reason: .wrongCode, factor: "totp") : hardware
      }
    }
    throw .store(.unavailable("the factor kept changing under concurrent requests; try again"))
  }

  func failed(_ state: TOTPState) -> TOTPState {
    var next = state
    let outcome = settings.afterFailure(failures: state.failures, now: now)
    next.failures = outcome.failures
    next.throttledUntil = outcome.throttledUntil
    next.hardLocked = next.hardLocked || outcome.hardLocked
    return next
  }

  func parse(_ text: String) throws(VerifierError) -> OTPCode { try HOTPVerifier.parseCode(text) }

  // MARK: Recovery codes

  static let recoveryAlphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")  // 32 symbols, no l/o/0/1

  /// A new set of 10 recovery codes, shown once; the previous set stops working.
  public func newRecoveryCodes(user name: String) throws(VerifierError) -> [String] {
    let user = try hotp.lookUp(name)
    var generator = SystemRandomNumberGenerator()
    let codes = (0..<10).map { _ -> String in
      let symbols = (0..<8).map { _ in Self.recoveryAlphabet[Int.random(in: 0..<32, using: &generator)] }
      return String(symbols[0..<4]) + "-" + String(symbols[4..<8])  // 40 bits
    }
    let key = keys.derivedKeys(purpose: "recovery codes")[0]
    let hashes = codes.map { Self.keyedHash(Self.normalizeRecovery($0), key) }
    try storeCall { () throws(StoreError) in
      try store.replaceRecoveryCodes(
        userID: user.id, hashes: hashes, audit: audit(name, "recovery", "recovery-new", "done", "10 codes"))
    }
    return codes
  }

  /// How many recovery codes the user has left.
  public func remainingRecoveryCodes(user name: String) throws(VerifierError) -> Int {
    let user = try hotp.lookUp(name)
    return try storeCall { () throws(StoreError) in try store.remainingRecoveryCodes(userID: user.id) }
  }

  static func normalizeRecovery(_ text: String) -> String {
    text.lowercased().filter { $0 != "-" && $0 != " " }
  }

  static func keyedHash(_ text: String, _ key: SymmetricKey) -> [UInt8] {
    Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
  }

  /// Whether text looks like a recovery code (so the login flow knows which check to run).
  public static func isRecoveryCode(_ text: String) -> Bool {
    let plain = normalizeRecovery(text)
    return plain.count == 8 && plain.allSatisfy { recoveryAlphabet.contains($0) }
  }

  /// Uses a recovery code: exactly one of any number of concurrent uses succeeds, and a used code
  /// never works again. Failures count against the user's recovery attempts.
  public func useRecoveryCode(user name: String, code: String) throws(VerifierError) -> Decision {
    let user = try hotp.lookUp(name)
    if let blocked = try blockedAttempts(user, "recovery") { return blocked }
    let plain = Self.normalizeRecovery(code)
    for key in keys.derivedKeys(purpose: "recovery codes") {
      let use = try storeCall { () throws(StoreError) in
        try store.consumeRecoveryCode(
          userID: user.id, hash: Self.keyedHash(plain, key), at: now,
          audit: audit(name, "recovery", "recovery-use", "accepted", "used"))
      }
      switch use {
      case .consumed:
        try resetAttempts(user, "recovery")
        return Decision(reason: .accepted, factor: "recovery")
      case .alreadyUsed:
        // A second use of a real code (a double submit, a race) is a replay, not a guess.
        try storeCall { () throws(StoreError) in
          try store.append(audit(name, "recovery", "recovery-use", "refused", "replay"))
        }
        return Decision(reason: .replay, factor: "recovery")
      case .unknown: continue
      }
    }
    try countFailure(user, "recovery", audit(name, "recovery", "recovery-use", "refused", "wrong-code"))
    return Decision(reason: .wrongCode, factor: "recovery")
  }

  // MARK: Application passwords

  static let appPasswordAlphabet = Array("abcdefghijklmnopqrstuvwxyz")

  /// A new application password (16 random lowercase letters), shown once.
  public func addAppPassword(user name: String, label: String) throws(VerifierError) -> String {
    guard !label.isEmpty, label.count <= 64, !label.contains(where: \.isNewline) else {
      throw .invalidInput("an application password's name is 1 to 64 characters")
    }
    let user = try hotp.lookUp(name)
    var generator = SystemRandomNumberGenerator()
    let password = String(
      (0..<16).map { _ in Self.appPasswordAlphabet[Int.random(in: 0..<26, using: &generator)] })
    let hash = Self.keyedHash(password, keys.derivedKeys(purpose: "application passwords")[0])
    do {
      try store.addAppPassword(
        userID: user.id, name: label, hash: hash, at: now,
        audit: audit(name, "app-password:\(label)", "app-password-add", "done", "created"))
    } catch {
      if case .conflict = error {
        throw .conflict("\(name) has an application password named \(label) already")
      }
      throw .store(error)
    }
    return password
  }

  /// Revokes an application password.
  public func revokeAppPassword(user name: String, label: String) throws(VerifierError) {
    let user = try hotp.lookUp(name)
    let revoked = try storeCall { () throws(StoreError) in
      try store.revokeAppPassword(
        userID: user.id, name: label,
        audit: audit(name, "app-password:\(label)", "app-password-revoke", "done", "revoked"))
    }
    guard revoked else { throw .notFound("application password \(label) of \(name)") }
  }

  public func appPasswords(user name: String) throws(VerifierError) -> [AppPasswordRecord] {
    let user = try hotp.lookUp(name)
    return try storeCall { () throws(StoreError) in try store.appPasswords(userID: user.id) }
  }

  /// Whether `password` is one of the user's live application passwords; failures are counted.
  func useAppPassword(_ user: UserRecord, _ password: String) throws(VerifierError) -> String? {
    for key in keys.derivedKeys(purpose: "application passwords") {
      let hash = Self.keyedHash(password, key)
      if let label = try storeCall({ () throws(StoreError) in
        try store.useAppPassword(
          userID: user.id, hash: hash, at: now,
          audit: audit(user.name, "app-password", "login", "accepted", "app-password"))
      }) {
        return label
      }
    }
    return nil
  }

  // MARK: Attempt counters

  func blockedAttempts(_ user: UserRecord, _ kind: String) throws(VerifierError) -> Decision? {
    let state = try storeCall { () throws(StoreError) in try store.attempts(userID: user.id, kind: kind) }
    if let until = state.throttledUntil, now < until {
      return Decision(reason: .throttled, factor: kind, retryAfterMilliseconds: until - now)
    }
    if state.failures >= settings.hardLockAfter { return Decision(reason: .locked, factor: kind) }
    return nil
  }

  func countFailure(_ user: UserRecord, _ kind: String, _ entry: AuditEntry) throws(VerifierError) {
    for _ in 0..<HOTPVerifier.raceRetries {
      let state = try storeCall { () throws(StoreError) in try store.attempts(userID: user.id, kind: kind) }
      var next = state
      let outcome = settings.afterFailure(failures: state.failures, now: now)
      next.failures = outcome.failures
      next.throttledUntil = outcome.throttledUntil
      if try storeCall({ () throws(StoreError) in
        try store.compareAndSetAttempts(
          userID: user.id, kind: kind, expectedVersion: state.version, newState: next)
      }) {
        try storeCall { () throws(StoreError) in try store.append(entry) }
        return
      }
    }
  }

  func resetAttempts(_ user: UserRecord, _ kind: String) throws(VerifierError) {
    let state = try storeCall { () throws(StoreError) in try store.attempts(userID: user.id, kind: kind) }
    guard state.failures > 0 || state.throttledUntil != nil else { return }
    _ = try storeCall { () throws(StoreError) in
      try store.compareAndSetAttempts(
        userID: user.id, kind: kind, expectedVersion: state.version, newState: AttemptState())
    }
  }
}

/// Everything a user has, as an administrator sees it: never a secret.
public struct FactorSummary: Sendable, Codable, Equatable {
  public struct Token: Sendable, Codable, Equatable {
    public var serial: String
    public var active: Bool
    public var nextCounter: UInt64
    public var failures: Int
    public var locked: Bool
    /// Milliseconds since 1970.
    public var throttledUntil: Int64?
  }
  public struct PhoneApp: Sendable, Codable, Equatable {
    public var active: Bool
    public var failures: Int
    public var locked: Bool
  }
  public struct AppPassword: Sendable, Codable, Equatable {
    public var name: String
    public var createdAt: Int64
    public var lastUsedAt: Int64?
  }
  public var user: String
  public var tokens: [Token]
  public var phoneApps: [PhoneApp]
  public var recoveryCodesLeft: Int
  public var appPasswords: [AppPassword]
}

extension Accounts {
  /// The user's factors and their state.
  public func factorSummary(user name: String) throws(VerifierError) -> FactorSummary {
    let user = try hotp.lookUp(name)
    return try storeCall { () throws(StoreError) in
      FactorSummary(
        user: name,
        tokens: try store.hotpFactors(userID: user.id).map {
          .init(
            serial: $0.serial, active: $0.active, nextCounter: $0.state.nextCounter,
            failures: $0.state.failures,
            locked: $0.state.hardLocked, throttledUntil: $0.state.throttledUntil)
        },
        phoneApps: try store.totpFactors(userID: user.id).map {
          .init(active: $0.state.active, failures: $0.state.failures, locked: $0.state.hardLocked)
        },
        recoveryCodesLeft: try store.remainingRecoveryCodes(userID: user.id),
        appPasswords: try store.appPasswords(userID: user.id).map {
          .init(name: $0.name, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt)
        })
    }
  }
}
