import Foundation
import OneTimePassword

/// Hardware HOTP tokens outside the code step: resynchronisation from two codes, assignment of
/// imported tokens, registration (``checkRegistration(serial:user:replace:)`` and the rest). The
/// code step itself, for tokens and every other factor, is ``Accounts/verify(user:code:source:)``.
///
/// Each change is a compare-and-set against the version the token was read at, retried on a fresh
/// read when another request moved it first. Throttled or locked tokens refuse without evaluating
/// the codes, so a refusal never tells whether they were right.
public struct HOTPVerifier: Sendable {
  public let store: any VerifierStore
  public let keys: MasterKeyRing
  public let settings: VerifierSettings
  public let clock: any VerifierClock

  public init(
    store: any VerifierStore, keys: MasterKeyRing, settings: VerifierSettings = VerifierSettings(),
    clock: any VerifierClock = SystemClock()
  ) throws(VerifierError) {
    self.store = store
    self.keys = keys
    self.settings = try settings.validated()
    self.clock = clock
  }

  /// How many times a decision is retried when other requests keep winning the race.
  static let raceRetries = 64

  static let keptChanging = VerifierError.store(
    .unavailable("the factor kept changing under concurrent requests; try again"))

  /// The state after one more failure: throttled after `throttleAfter`, locked after `hardLockAfter`.
  func failed(_ state: HOTPState, now: Int64) -> HOTPState {
    var next = state
    let outcome = settings.afterFailure(failures: state.failures, now: now)
    next.failures = outcome.failures
    next.throttledUntil = outcome.throttledUntil
    next.hardLocked = next.hardLocked || outcome.hardLocked
    return next
  }

  // MARK: Resynchronisation

  /// Resynchronises a token from two consecutive codes, searching the explicit resync window
  /// forward from the current counter. Refused attempts count as failures.
  public func resync(user name: String, serial: String? = nil, codes: (String, String), source: String? = nil)
    throws(VerifierError) -> Decision
  {
    let (first, second) = try Self.parsePair(codes)
    let user = try lookUp(name)
    for _ in 0..<Self.raceRetries {
      var factors = try storeCall { () throws(StoreError) in try store.hotpFactors(userID: user.id) }.filter(
        \.active)
      if let serial { factors = factors.filter { $0.serial == serial } }
      guard let factor = factors.first else { return Decision(reason: .noFactor) }
      guard factors.count == 1 else {
        throw .invalidInput("\(name) has several tokens: name one with its serial")
      }
      let state = factor.state
      if state.hardLocked { return Decision(reason: .locked, factor: label(factor)) }
      if let until = state.throttledUntil, now < until {
        return Decision(reason: .throttled, factor: label(factor), retryAfterMilliseconds: until - now)
      }
      let generator = try self.generator(factor)
      if let counter = generator.findConsecutive(
        first, second, from: state.nextCounter, count: settings.explicitResyncWindow)
      {
        let next = HOTPState(nextCounter: counter &+ 2, version: state.version)
        let audit = entry(
          user, factor, "resync", "accepted", "resynced", state.nextCounter, counter &+ 2, source)
        guard try cas(factor, state, next, audit) else { continue }
        return Decision(reason: .resynced, factor: label(factor), counter: counter &+ 1)
      }
      let next = failed(state, now: now)
      let audit = entry(
        user, factor, "resync", "refused", "wrong-code", state.nextCounter, state.nextCounter, source)
      guard try cas(factor, state, next, audit) else { continue }
      return Decision(reason: .wrongCode, factor: label(factor))
    }
    throw Self.keptChanging
  }

  // MARK: Helpers

  var now: Int64 { clock.nowMilliseconds() }

  /// How a token is named in decisions and the audit log.
  static func label(_ factor: HOTPFactorRecord) -> String { "hotp:\(factor.serial)" }
  func label(_ factor: HOTPFactorRecord) -> String { Self.label(factor) }

  func lookUp(_ name: String) throws(VerifierError) -> UserRecord {
    let name = try UserName.checked(name)
    guard let user = try storeCall({ () throws(StoreError) in try store.user(named: name) }) else {
      throw .unknownUser(name)
    }
    return user
  }

  /// The HOTP generator of a factor.
  func generator(_ factor: HOTPFactorRecord) throws(VerifierError) -> HOTPGenerator {
    try keys.hotpGenerator(factor)
  }

  /// A one-time code as a person typed it (spaces and dashes ignored), or a clear input error.
  public static func parseCode(_ text: String) throws(VerifierError) -> OTPCode {
    guard case .digits(let code) = try SubmittedCode(text) else {
      throw .invalidInput("a one-time code is 6 to 8 digits")
    }
    return code
  }

  /// Two consecutive codes (resync, assignment).
  static func parsePair(_ codes: (String, String)) throws(VerifierError) -> (OTPCode, OTPCode) {
    (try parseCode(codes.0), try parseCode(codes.1))
  }

  /// What a HOTP token's sealed secret is bound to.
  public static func sealingContext(serial: String) -> String { "hotp:" + serial }

  func entry(
    _ user: UserRecord, _ factor: HOTPFactorRecord, _ action: String, _ result: String, _ reason: String,
    _ before: UInt64?, _ after: UInt64?, _ source: String?
  ) -> AuditEntry {
    AuditEntry(
      at: now, user: user.name, factor: label(factor), action: action, result: result, reason: reason,
      counterBefore: before, counterAfter: after, source: source)
  }

  func cas(_ factor: HOTPFactorRecord, _ expected: HOTPState, _ next: HOTPState, _ audit: AuditEntry)
    throws(VerifierError) -> Bool
  {
    try storeCall { () throws(StoreError) in
      try store.compareAndSet(
        factorID: factor.id, expectedVersion: expected.version, newState: next, audit: audit)
    }
  }

}

/// Runs a store call, wrapping its error as a verifier error.
public func storeCall<T>(_ body: () throws(StoreError) -> T) throws(VerifierError) -> T {
  do { return try body() } catch { throw .store(error) }
}

extension HOTPVerifier {
  /// Gives an unassigned (imported) token to a user who proves it with two consecutive codes. The
  /// counter moves past them, so neither code can be used again.
  public func assign(serial: String, to name: String, codes: (String, String), source: String? = nil)
    throws(VerifierError) -> Decision
  {
    let (first, second) = try Self.parsePair(codes)
    let user = try lookUp(name)
    for _ in 0..<Self.raceRetries {
      guard let factor = try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) })
      else {
        throw .notFound("token \(serial)")
      }
      if let owner = factor.userID, owner != user.id || factor.active {
        throw .conflict(
          "token \(serial) belongs to \(owner == user.id ? "this user" : "another user") already")
      }
      let state = factor.state
      if state.hardLocked { return Decision(reason: .locked, factor: label(factor)) }
      if let until = state.throttledUntil, now < until {
        return Decision(reason: .throttled, factor: label(factor), retryAfterMilliseconds: until - now)
      }
      let generator = try self.generator(factor)
      guard
        let counter = generator.findConsecutive(
          first, second, from: state.nextCounter, count: settings.explicitResyncWindow)
      else {
        let audit = entry(
          user, factor, "assign", "refused", "wrong-code", state.nextCounter, state.nextCounter, source)
        guard try cas(factor, state, failed(state, now: now), audit) else { continue }
        return Decision(reason: .wrongCode, factor: label(factor))
      }
      let next = HOTPState(nextCounter: counter &+ 2, version: state.version)
      let audit = entry(
        user, factor, "assign", "accepted", "assigned", state.nextCounter, counter &+ 2, source)
      let won = try storeCall { () throws(StoreError) in
        try store.assign(
          factorID: factor.id, to: user.id, expectedVersion: state.version, newState: next, audit: audit)
      }
      guard won else { continue }
      return Decision(reason: .accepted, factor: label(factor), counter: counter &+ 1)
    }
    throw .store(.unavailable("the token kept changing under concurrent requests; try again"))
  }
}
