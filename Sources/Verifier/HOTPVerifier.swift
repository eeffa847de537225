import Foundation
import OneTimePassword

/// The decision engine for hardware HOTP tokens (shared/reference/verifier.md).
///
/// Every code is accepted at most once, whatever the number of processes: a decision reads the
/// factor's state, decides, and writes the new state by compare-and-set against the version it
/// read; if another request moved the state first, it reads again and decides again (the same code
/// is then a replay). Throttled or locked factors refuse without evaluating the code, so a refusal
/// never tells whether the code was right. The service's hot path first decides from the state this
/// verifier last read or wrote for the user (``RecentReads``), checked by the same compare-and-set,
/// so a verification usually costs the store one write and no read.
public struct HOTPVerifier: Sendable {
  public let store: any VerifierStore
  public let keys: MasterKeyRing
  public let settings: VerifierSettings
  public let clock: any VerifierClock
  let generators = GeneratorCache()
  let recentReads = RecentReads()

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

  // MARK: Verification

  /// Decides one code for a user against all their active HOTP tokens.
  /// `recordNoFactor: false` leaves no audit line when the user has no hardware token (the caller
  /// is checking other kinds of factor too).
  public func verify(user name: String, code text: String, source: String? = nil, recordNoFactor: Bool = true)
    throws(VerifierError) -> Decision
  {
    let code = try Self.parseCode(text)
    let outcome = try decide(name) { () throws -> HardwareOnlyOutcome in
      .decided(
        try store.decideAndApply(userNamed: name) { user, factors in
          var plan = try self.plan(code, user: user, factors: factors.filter(\.active), source: source)
          if !recordNoFactor && plan.decision.reason == .noFactor { plan.writes = [] }
          return plan
        })
    }
    guard case .decided(let decision) = outcome else {
      throw .store(.unavailable("the store declined a plain verification"))
    }
    return decision
  }

  /// What ``verifyIfNoPhoneApps(user:code:source:)`` did.
  public enum HardwareOnlyResult: Sendable {
    /// The user has no phone apps: decided on their tokens.
    case decided(Decision)
    /// Nothing decided or written: the user has phone apps (as read in the same job, if the store
    /// could), which the caller looks at first.
    case phoneApps((UserRecord, [TOTPFactorRecord])?)
  }

  /// ``verify(user:code:source:recordNoFactor:)`` in one store job when the user has no phone apps
  /// (the common case, and the hot path of the service).
  public func verifyIfNoPhoneApps(user name: String, code text: String, source: String? = nil)
    throws(VerifierError) -> HardwareOnlyResult
  {
    let code = try Self.parseCode(text)
    let recent = try recentPlan(name, code, source)
    var early = recent.flatMap { $0.plan.decision.isAccepted ? $0.plan : nil }
    return try decide(name) { () throws -> HardwareOnlyOutcome in
      let plan = planner(code, source, reusing: recent)
      if let accepted = early.take(),
        let outcome = try store.applyIfStillNoPhoneApps(accepted, userNamed: name, orDecideAgain: plan)
      {
        return outcome
      }
      return try store.decideAndApplyIfNoPhoneApps(userNamed: name, plan)
    }
  }

  /// ``verifyIfNoPhoneApps(user:code:source:)`` without blocking the calling thread, where the
  /// store can wait on its I/O itself; nil, having done nothing, where it cannot.
  public func verifyIfNoPhoneAppsWithoutBlocking(user name: String, code text: String, source: String? = nil)
    async throws(VerifierError) -> HardwareOnlyResult?
  {
    let code = try Self.parseCode(text)
    let recent = try recentPlan(name, code, source)
    var early = recent.flatMap { $0.plan.decision.isAccepted ? $0.plan : nil }
    for _ in 0..<Self.raceRetries {
      let plan = planner(code, source, reusing: recent)
      var outcome: HardwareOnlyOutcome?
      do {
        if let accepted = early.take() {
          outcome = try await store.applyIfStillNoPhoneAppsWithoutBlocking(
            accepted, userNamed: name, orDecideAgain: plan)
        }
        if outcome == nil {
          outcome = try await store.decideAndApplyIfNoPhoneAppsWithoutBlocking(userNamed: name, plan)
        }
      } catch { throw Self.mapped(error) }
      guard let outcome else { return nil }
      if let result = try result(of: outcome, name) { return result }
    }
    throw Self.keptChanging
  }

  /// A plan made from the user's tokens as this process last saw them, before any read.
  struct RecentPlan: Sendable {
    let read: RecentReads.Entry
    let plan: VerificationPlan
  }

  private func recentPlan(_ name: String, _ code: OTPCode, _ source: String?) throws(VerifierError)
    -> RecentPlan?
  {
    guard let read = recentReads.entry(name) else { return nil }
    return RecentPlan(
      read: read,
      plan: try plan(code, user: read.user, factors: read.factors.filter(\.active), source: source))
  }

  /// The plan for a store job's fresh read, which is remembered; the recent plan again when the
  /// read shows the same tokens at the same versions (no second round of HMACs for a refusal).
  private func planner(_ code: OTPCode, _ source: String?, reusing recent: RecentPlan?)
    -> @Sendable (UserRecord, [HOTPFactorRecord]) throws -> VerificationPlan
  {
    { user, factors in
      self.recentReads.remember(user, factors)
      if let recent, recent.read.matches(user, factors) { return recent.plan }
      return try self.plan(code, user: user, factors: factors.filter(\.active), source: source)
    }
  }

  /// Runs a store job until its compare-and-sets win, mapping its errors.
  private func decide(_ name: String, _ job: () throws -> HardwareOnlyOutcome) throws(VerifierError)
    -> HardwareOnlyResult
  {
    for _ in 0..<Self.raceRetries {
      let outcome: HardwareOnlyOutcome
      do { outcome = try job() } catch { throw Self.mapped(error) }
      if let result = try result(of: outcome, name) { return result }
    }
    throw Self.keptChanging
  }

  /// What a store job's outcome means for the caller; nil when its compare-and-set lost a race and
  /// the job must run again on fresh state. The recent read follows: a plan that took effect moves
  /// it on, anything else drops it.
  private func result(of outcome: HardwareOnlyOutcome, _ name: String) throws(VerifierError)
    -> HardwareOnlyResult?
  {
    if case .decided(let plan?) = outcome, !plan.lost {
      recentReads.applied(plan, user: name)
    } else {
      recentReads.forget(name)
    }
    switch outcome {
    case .mayHavePhoneApps: return .phoneApps(nil)
    case .hasPhoneApps(let user, let phones): return .phoneApps((user, phones))
    case .decided(nil): throw .unknownUser(name)
    case .decided(let result?): return result.lost ? nil : .decided(result.decision)
    }
  }

  /// A store job's error as the verifier reports it.
  private static func mapped(_ error: any Error) -> VerifierError {
    switch error {
    case let error as VerifierError: error
    case let error as StoreError: .store(error)
    default: .store(.unavailable("\(error)"))
    }
  }

  static let keptChanging = VerifierError.store(
    .unavailable("the factor kept changing under concurrent requests; try again"))

  /// The decision for one code, and the writes it needs, from the factors as read: a pure function.
  func plan(_ code: OTPCode, user: UserRecord, factors: [HOTPFactorRecord], source: String?)
    throws(VerifierError)
    -> VerificationPlan
  {
    let now = self.now
    guard !factors.isEmpty else {
      let audit = AuditEntry(
        at: now, user: user.name, factor: nil, action: "verify", result: "refused", reason: "no-factor",
        source: source)
      return VerificationPlan(decision: Decision(reason: .noFactor), writes: [.append(audit)])
    }
    var refusals: [(HOTPFactorRecord, HOTPState, Decision.Reason)] = []
    var blocked: Decision?
    func change(_ factor: HOTPFactorRecord, _ state: HOTPState, _ next: HOTPState, _ audit: AuditEntry)
      -> VerificationPlan.Write
    {
      .compareAndSet(factorID: factor.id, expectedVersion: state.version, newState: next, audit: audit)
    }
    for factor in factors {
      let state = factor.state
      if state.hardLocked {
        blocked = blocked ?? Decision(reason: .locked, factor: label(factor))
        continue
      }
      if let until = state.throttledUntil, now < until {
        blocked =
          blocked ?? Decision(reason: .throttled, factor: label(factor), retryAfterMilliseconds: until - now)
        continue
      }
      let generator = try self.generator(factor)
      // 1. A used code: refused and recorded, not counted as a failure, since a second submission of
      //    a real code (a double click, a racing node) is not a guess. Checked first: with 6 digits
      //    a code's value recurs among the next ten counters about once in 110,000 codes, and a used
      //    code must not be accepted again there (a node that lost the race to accept it decides
      //    again on the moved counter, and must answer replay).
      let lookback = min(UInt64(settings.replayLookback), state.nextCounter)
      if lookback > 0, generator.find(code, from: state.nextCounter - lookback, count: Int(lookback)) != nil {
        let audit = entry(
          user, factor, "verify", "refused", "replay", state.nextCounter, state.nextCounter, source)
        return VerificationPlan(
          decision: Decision(reason: .replay, factor: label(factor)), writes: [.append(audit)])
      }
      // 2. The second code of a pending auto-resync.
      if let pending = state.pendingResyncCounter, let expiry = state.pendingResyncExpiry, now < expiry,
        generator.find(code, from: pending &+ 1, count: 1) != nil
      {
        let accepted = pending &+ 1
        let next = HOTPState(nextCounter: accepted &+ 1, version: state.version)
        let audit = entry(
          user, factor, "verify", "accepted", "resynced", state.nextCounter, accepted &+ 1, source)
        return VerificationPlan(
          decision: Decision(reason: .resynced, factor: label(factor), counter: accepted),
          writes: [change(factor, state, next, audit)])
      }
      // 3. The look-ahead window.
      if let counter = generator.find(code, from: state.nextCounter, count: settings.lookAhead) {
        let next = HOTPState(nextCounter: counter &+ 1, version: state.version)
        let audit = entry(
          user, factor, "verify", "accepted", "accepted", state.nextCounter, counter &+ 1, source)
        return VerificationPlan(
          decision: Decision(reason: .accepted, factor: label(factor), counter: counter),
          writes: [change(factor, state, next, audit)])
      }
      // 4. Beyond the window but within the sync window: remember it and ask for the next press.
      let syncSpan = settings.syncWindow - settings.lookAhead
      if syncSpan > 0,
        let counter = generator.find(
          code, from: state.nextCounter &+ UInt64(settings.lookAhead), count: syncSpan)
      {
        var next = state
        next.pendingResyncCounter = counter
        next.pendingResyncExpiry = now + Int64(settings.resyncExpirySeconds) * 1000
        let audit = entry(
          user, factor, "verify", "refused", "press-again", state.nextCounter, state.nextCounter, source)
        return VerificationPlan(
          decision: Decision(reason: .pressAgain, factor: label(factor)),
          writes: [change(factor, state, next, audit)])
      }
      refusals.append((factor, state, .wrongCode))
    }
    // No factor accepted: count a failure on every factor that evaluated the code.
    if let (first, _, reason) = refusals.first {
      let writes = refusals.map { factor, state, reason in
        change(
          factor, state, failed(state, now: now),
          entry(
            user, factor, "verify", "refused", reason.rawValue, state.nextCounter, state.nextCounter, source))
      }
      return VerificationPlan(decision: Decision(reason: reason, factor: label(first)), writes: writes)
    }
    let decision = blocked ?? Decision(reason: .noFactor)
    let audit = AuditEntry(
      at: now, user: user.name, factor: decision.factor, action: "verify", result: "refused",
      reason: decision.reason.rawValue, source: source)
    return VerificationPlan(decision: decision, writes: [.append(audit)])
  }

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
      if let counter = Self.findPair(
        generator, first, second, from: state.nextCounter, count: settings.explicitResyncWindow)
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
    throw .store(.unavailable("the factor kept changing under concurrent requests; try again"))
  }

  /// The lowest counter c in the window with code(c) == first and code(c + 1) == second. Every
  /// candidate of the window is computed, so the time does not depend on where the pair is.
  static func findPair(
    _ generator: HOTPGenerator, _ first: OTPCode, _ second: OTPCode, from start: UInt64, count: Int
  )
    -> UInt64?
  {
    guard first.digits == generator.digits, second.digits == generator.digits, count > 0 else { return nil }
    var found: UInt64? = nil
    var previous = generator.value(counter: start)
    var counter = start
    for _ in 0..<count {
      let next = generator.value(counter: counter &+ 1)
      if found == nil && previous == first.value && next == second.value { found = counter }
      previous = next
      counter &+= 1
    }
    return found
  }

  // MARK: Administration

  /// Clears throttling and the hard lock of a user's factor.
  public func unlock(user name: String, serial: String? = nil, source: String? = nil) throws(VerifierError) {
    let user = try lookUp(name)
    for _ in 0..<Self.raceRetries {
      var factors = try storeCall { () throws(StoreError) in try store.hotpFactors(userID: user.id) }
      if let serial { factors = factors.filter { $0.serial == serial } }
      guard !factors.isEmpty else {
        throw .notFound("a token of \(name)\(serial.map { " with serial \($0)" } ?? "")")
      }
      var lost = false
      for factor in factors {
        var next = factor.state
        next.failures = 0
        next.throttledUntil = nil
        next.hardLocked = false
        let audit = entry(user, factor, "unlock", "done", "unlocked", nil, nil, source)
        if try !cas(factor, factor.state, next, audit) { lost = true }
      }
      if !lost { return }
    }
    throw .store(.unavailable("the factor kept changing under concurrent requests; try again"))
  }

  // MARK: Helpers

  var now: Int64 { clock.nowMilliseconds() }

  func label(_ factor: HOTPFactorRecord) -> String { "hotp:\(factor.serial)" }

  func lookUp(_ name: String) throws(VerifierError) -> UserRecord {
    guard let user = try storeCall({ () throws(StoreError) in try store.user(named: name) }) else {
      throw .unknownUser(name)
    }
    return user
  }

  /// The HOTP generator of a factor (the secret is opened only here, and never leaves memory).
  func generator(_ factor: HOTPFactorRecord) throws(VerifierError) -> HOTPGenerator {
    let secret = try keys.open(factor.sealedSecret, context: Self.sealingContext(serial: factor.serial))
    do {
      return try HOTPGenerator(
        secret: OTPSecret(bytes: secret), algorithm: factor.algorithm, digits: factor.digits)
    } catch {
      throw .store(.corrupt("token \(factor.serial): \(error)"))
    }
  }

  /// A code typed by a person: 6 to 8 digits, or a clear input error.
  public static func parseCode(_ text: String) throws(VerifierError) -> OTPCode {
    do { return try OTPCode(text) } catch { throw .invalidInput(error.description) }
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
        let counter = Self.findPair(
          generator, first, second, from: state.nextCounter, count: settings.explicitResyncWindow)
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

/// HOTP generators of recently used factors, bounded; keyed by the sealed secret so a changed
/// secret (a re-registered token) never finds a stale entry.
final class GeneratorCache: @unchecked Sendable {
  struct Key: Hashable {
    let factorID: Int64
    let sealed: [UInt8]
  }
  private let lock = NSLock()
  private var entries: [Key: HOTPGenerator] = [:]
  /// Above this many entries the cache starts over (about 200 bytes each).
  let capacity = 100_000

  func lookUp(_ key: Key) -> HOTPGenerator? { lock.withLock { entries[key] } }

  func store(_ key: Key, _ generator: HOTPGenerator) {
    lock.withLock {
      if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
      entries[key] = generator
    }
  }
}
