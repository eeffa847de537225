import Crypto
import CryptoExtras
import Foundation
import OneTimePassword

/// Everything of two-step login beyond hardware tokens: phone-app (TOTP) factors, recovery codes,
/// application passwords, the account password, the login flow of the seed documents, and the
/// policy that makes two-step login mandatory. Stateless: all state is in the stores.
public struct Accounts: Sendable {
  public typealias Store = VerifierStore & AccountStore & BrowserSessionStore
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

  /// Activates the user's pending phone-app factor with a current code, learning how far the phone's
  /// clock is off (up to ``VerifierSettings/totpMaximumDriftSteps``).
  public func confirmTOTP(user name: String, code text: String) throws(VerifierError) -> Decision {
    let code = try HOTPVerifier.parseCode(text)
    let user = try hotp.lookUp(name)
    for _ in 0..<HOTPVerifier.raceRetries {
      guard
        let factor = try storeCall({ () throws(StoreError) in try store.totpFactors(userID: user.id) }).first(
          where: { !$0.state.active })
      else { throw .notFound("a pending phone-app enrolment of \(name)") }
      let generator = try keys.totpGenerator(factor, user: name)
      let current = generator.step(at: now / 1000)
      let reach = Int64(settings.totpMaximumDriftSteps)
      // Nearest offset first, so the smallest drift that explains the code is learned.
      let offsets = [Int64(0)] + (1...reach).flatMap { [$0, -$0] }
      guard let offset = offsets.first(where: { generator.code(step: current + $0).constantTimeEquals(code) })
      else {
        let next = failed(factor.state)
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
    throw HOTPVerifier.keptChanging
  }

  func casTOTP(_ factor: TOTPFactorRecord, _ next: TOTPState, _ entry: AuditEntry) throws(VerifierError)
    -> Bool
  {
    try storeCall { () throws(StoreError) in
      try store.compareAndSetTOTP(
        factorID: factor.id, expectedVersion: factor.state.version, newState: next, audit: entry)
    }
  }

  // MARK: The code step

  /// Decides a code a person typed as the second step of a login: a one-time code of any of the
  /// user's tokens and phone apps, or a recovery code. The one entry point for every caller (the
  /// command line, the HTTP routes, the login flow): the code is normalised here, and the decision
  /// and every write it needs are one atomic job of the store (``VerifierStore/runVerification(_:)``).
  public func verify(user name: String, code text: String, source: String? = nil) async throws(VerifierError)
    -> Decision
  {
    let code = try SubmittedCode(text)
    let hashes: [[UInt8]]
    if case .recovery(let plain) = code {
      hashes = keys.derivedKeys(purpose: "recovery codes").map { Self.keyedHash(plain, $0) }
    } else {
      hashes = []
    }
    let reads: SnapshotParts = hashes.isEmpty ? [.tokens, .phoneApps] : [.attempts, .recoveryCodes]
    return try await run(name, reads, source) { planner, snapshot in
      try planner.plan(code, recoveryHashes: hashes, snapshot)
    }.decision
  }

  /// Clears every delay and lock of a user, of every kind: tokens, phone apps, passwords, recovery
  /// codes. Each clearing is recorded in the audit log.
  public func unlock(user name: String, source: String? = nil) async throws(VerifierError) {
    _ = try await run(name, .all, source) { planner, snapshot in planner.unlock(snapshot) }
  }

  /// Runs a job through the store until its conditional writes hold.
  func run(
    _ name: String, _ reads: SnapshotParts, _ source: String?,
    _ plan: @escaping @Sendable (Planner, VerificationSnapshot) throws -> VerificationPlan
  ) async throws(VerifierError) -> VerificationPlan {
    let name = try UserName.checked(name)
    let (settings, keys, clock) = (settings, keys, hotp.clock)
    let job = VerificationJob(userName: name, reads: reads) { snapshot in
      try plan(
        Planner(settings: settings, keys: keys, now: clock.nowMilliseconds(), source: source), snapshot)
    }
    for _ in 0..<HOTPVerifier.raceRetries {
      let result: VerificationPlan?
      do { result = try await store.runVerification(job) } catch {
        switch error {
        case let error as VerifierError: throw error
        case let error as StoreError: throw .store(error)
        default: throw .store(.unavailable("\(error)"))
        }
      }
      guard let result else { throw .unknownUser(name) }
      if !result.lost { return result }
    }
    throw HOTPVerifier.keptChanging
  }

  func failed(_ state: TOTPState) -> TOTPState {
    var next = state
    let outcome = settings.afterFailure(failures: state.failures, now: now)
    next.failures = outcome.failures
    next.throttledUntil = outcome.throttledUntil
    next.hardLocked = next.hardLocked || outcome.hardLocked
    return next
  }

  // MARK: Recovery codes

  /// A new set of 10 recovery codes, shown once; the previous set stops working. Each is 8 symbols
  /// of ``SubmittedCode/recoveryAlphabet`` (40 bits) with at least one letter, so it is never
  /// mistaken for a one-time code.
  public func newRecoveryCodes(user name: String) throws(VerifierError) -> [String] {
    let user = try hotp.lookUp(name)
    var generator = SystemRandomNumberGenerator()
    let alphabet = SubmittedCode.recoveryAlphabet
    let codes = (0..<10).map { _ -> String in
      var symbols: [Character] = []
      repeat {
        symbols = (0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
      } while !symbols.contains(where: \.isLetter)
      return String(symbols[0..<4]) + "-" + String(symbols[4..<8])
    }
    let key = keys.derivedKeys(purpose: "recovery codes")[0]
    let hashes = codes.map { Self.keyedHash(SubmittedCode.recovery($0)!, key) }
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

  static func keyedHash(_ text: String, _ key: SymmetricKey) -> [UInt8] {
    Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
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

  /// For a client application's first sign-in with the password and a code, as the seed documents
  /// describe for mail and calendar apps: a new application password named after the client
  /// ("Thunderbird", or "Thunderbird 2" if that name is taken), shown once. The client uses it alone
  /// from then on; the user sees it listed and may revoke it.
  public func issueClientPassword(user name: String, client: String) throws(VerifierError)
    -> (name: String, password: String)
  {
    let base = client.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !base.isEmpty, base.count <= 56, !base.contains(where: \.isNewline) else {
      throw .invalidInput("a client's name is 1 to 56 characters")
    }
    let taken = Set(try appPasswords(user: name).map(\.name))
    guard let label = ([base] + (2...99).map { "\(base) \($0)" }).first(where: { !taken.contains($0) }) else {
      throw .conflict("\(name) has 99 application passwords named after \(base)")
    }
    return (label, try addAppPassword(user: name, label: label))
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
    /// What ``Accounts/removePhoneApp(user:id:source:)`` takes.
    public var id: Int64
    public var active: Bool
    public var failures: Int
    public var locked: Bool
    /// Milliseconds since 1970.
    public var throttledUntil: Int64?
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
          .init(
            id: $0.id, active: $0.state.active, failures: $0.state.failures, locked: $0.state.hardLocked,
            throttledUntil: $0.state.throttledUntil)
        },
        recoveryCodesLeft: try store.remainingRecoveryCodes(userID: user.id),
        appPasswords: try store.appPasswords(userID: user.id).map {
          .init(name: $0.name, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt)
        })
    }
  }
}
