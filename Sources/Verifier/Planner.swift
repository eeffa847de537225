import Crypto
import OneTimePassword

/// The verifier's decisions as pure functions of a ``VerificationSnapshot``: what is decided and
/// which conditional writes make it true. Nothing here reads or writes a store, so one planner
/// serves every store, and a plan can be made again on a fresh read as often as a race demands.
///
/// Every attempt is charged in the plan that evaluates it: a failure's counter move is one of the
/// plan's conditional writes, so an answer that came from evaluating a code exists only if its
/// charge was stored with it. A factor or kind that is throttled or locked is not evaluated at all.
struct Planner: Sendable {
  let settings: VerifierSettings
  let keys: MasterKeyRing
  let now: Int64
  let source: String?

  // MARK: The code step

  /// The decision on a one-time code or a recovery code. `recoveryHashes`: the recovery code's
  /// keyed hash under each recovery key (empty for a digit code).
  func plan(_ code: SubmittedCode, recoveryHashes: [[UInt8]], _ s: VerificationSnapshot) throws
    -> VerificationPlan
  {
    switch code {
    case .digits(let code): return try plan(code, s)
    case .recovery: return plan(recoveryHashes: recoveryHashes, s)
    }
  }

  /// What one factor makes of a code.
  enum Verdict {
    case accepted(Decision, VerificationPlan.Write)
    case replay(Decision, AuditEntry)
    /// Evaluated and wrong: the failure's writes.
    case wrong(Decision, [VerificationPlan.Write])
    case blocked(Decision)
  }

  /// A one-time code against every active token and phone app of its length. An acceptance or a
  /// replay ends the search; otherwise every factor that evaluated it counts a failure.
  func plan(_ code: OTPCode, _ s: VerificationSnapshot) throws -> VerificationPlan {
    let tokens = s.tokens.filter(\.active)
    let phones = s.phoneApps.filter(\.state.active)
    guard !tokens.isEmpty || !phones.isEmpty else {
      return VerificationPlan(
        decision: Decision(reason: .noFactor), writes: [.append(audit(s.user, nil, "no-factor"))])
    }
    let lengths = Set(tokens.map(\.digits) + phones.map(\.digits))
    guard lengths.contains(code.digits) else {
      let expected = lengths.sorted().map(String.init).joined(separator: " or ")
      throw VerifierError.invalidInput("a code of this user's factors is \(expected) digits")
    }
    var wrong: [(Decision, [VerificationPlan.Write])] = []
    var blocked: Decision?
    /// The plan a verdict settles at once: an acceptance or a replay.
    func settled(_ verdict: Verdict) -> VerificationPlan? {
      switch verdict {
      case .accepted(let decision, let write): return VerificationPlan(decision: decision, writes: [write])
      case .replay(let decision, let entry):
        return VerificationPlan(decision: decision, writes: [.append(entry)])
      case .wrong(let decision, let writes): wrong.append((decision, writes))
      case .blocked(let decision): blocked = blocked ?? decision
      }
      return nil
    }
    for factor in tokens where factor.digits == code.digits {
      if let plan = settled(try verdict(code, factor, s.user)) { return plan }
    }
    for factor in phones where factor.digits == code.digits {
      if let plan = settled(try verdict(code, factor, s.user)) { return plan }
    }
    if let first = wrong.first { return VerificationPlan(decision: first.0, writes: wrong.flatMap(\.1)) }
    let decision = blocked ?? Decision(reason: .noFactor)
    return VerificationPlan(
      decision: decision, writes: [.append(audit(s.user, decision.factor, decision.reason.rawValue))])
  }

  /// A hardware token's verdict: a used code, the look-ahead window, the second of two consecutive
  /// codes further on (auto-resync), or a failure.
  ///
  /// A code that misses the look-ahead is a failure, whatever it is, and the token remembers it
  /// (masked) for a few minutes. Only when the next miss arrives while one is remembered is the
  /// sync window searched, once, for the two codes in a row; found there, the token resumes after
  /// them. So a single wrong code costs the look-ahead's HMACs, not the window's, and the answer
  /// never says whether a code lay further on.
  func verdict(_ code: OTPCode, _ factor: HOTPFactorRecord, _ user: UserRecord) throws -> Verdict {
    let state = factor.state
    let label = HOTPVerifier.label(factor)
    if let blocked = blocked(state.hardLocked, state.throttledUntil, label) { return .blocked(blocked) }
    let generator = try keys.hotpGenerator(factor)
    func move(_ next: HOTPState, _ result: String, _ reason: String, _ after: UInt64)
      -> VerificationPlan.Write
    {
      .token(
        factorID: factor.id, expectedVersion: state.version, newState: next,
        audit: audit(user, label, reason, result: result, before: state.nextCounter, after: after))
    }
    // A used code: refused and recorded, not counted as a failure, since a second submission of a
    // real code (a double click, a racing node) is not a guess. Checked first: with 6 digits a
    // code's value recurs among the next ten counters about once in 110,000 codes, and a used
    // code must not be accepted again there.
    let lookback = min(UInt64(settings.replayLookback), state.nextCounter)
    if lookback > 0, generator.find(code, from: state.nextCounter - lookback, count: Int(lookback)) != nil {
      return .replay(
        Decision(reason: .replay, factor: label),
        audit(user, label, "replay", before: state.nextCounter, after: state.nextCounter))
    }
    if let counter = generator.find(code, from: state.nextCounter, count: settings.lookAhead) {
      return .accepted(
        Decision(reason: .accepted, factor: label, counter: counter),
        move(
          HOTPState(nextCounter: counter &+ 1, version: state.version), "accepted", "accepted", counter &+ 1))
    }
    if settings.syncWindow > settings.lookAhead, let masked = state.pendingMiss,
      let expiry = state.pendingMissExpiry, now < expiry,
      let counter = generator.findConsecutive(
        OTPCode(
          value: UInt32(truncatingIfNeeded: masked ^ Self.missMask(generator, expiry: expiry)),
          digits: code.digits),
        code, from: state.nextCounter, count: settings.syncWindow)
    {
      let accepted = counter &+ 1
      return .accepted(
        Decision(reason: .resynced, factor: label, counter: accepted),
        move(
          HOTPState(nextCounter: accepted &+ 1, version: state.version), "accepted", "resynced",
          accepted &+ 1))
    }
    var next = state
    let lockedNow = charge(&next.failures, &next.throttledUntil)
    next.hardLocked = state.hardLocked || lockedNow
    if settings.syncWindow > settings.lookAhead {
      let expiry = now + Int64(settings.resyncExpirySeconds) * 1000
      next.pendingMiss = UInt64(code.value) ^ Self.missMask(generator, expiry: expiry)
      next.pendingMissExpiry = expiry
    }
    return .wrong(
      Decision(reason: .wrongCode, factor: label),
      [move(next, "refused", "wrong-code", state.nextCounter)] + lockLine(user, label, lockedNow))
  }

  /// What a remembered miss is stored under: the token's own truncated HMAC at a counter no token
  /// reaches (2^63 + the miss's expiry), so the stored number says nothing without the secret and
  /// differs for every miss.
  static func missMask(_ generator: HOTPGenerator, expiry: Int64) -> UInt64 {
    UInt64(generator.truncated(counter: 1 << 63 | UInt64(bitPattern: expiry)))
  }

  /// A phone app's verdict: a step within the window around the learned drift, each step used once.
  func verdict(_ code: OTPCode, _ factor: TOTPFactorRecord, _ user: UserRecord) throws -> Verdict {
    let state = factor.state
    let label = "totp"
    if let blocked = blocked(state.hardLocked, state.throttledUntil, label) { return .blocked(blocked) }
    let generator = try keys.totpGenerator(factor, user: user.name)
    let current = generator.step(at: now / 1000)
    let center = current + state.driftSteps
    let window = Int64(settings.totpWindow)
    var matched: Int64?
    for step in (center - window)...(center + window)
    where matched == nil && generator.code(step: step).constantTimeEquals(code) {
      matched = step
    }
    func move(_ next: TOTPState, _ result: String, _ reason: String) -> VerificationPlan.Write {
      .phoneApp(
        factorID: factor.id, expectedVersion: state.version, newState: next,
        audit: audit(user, label, reason, result: result))
    }
    if let step = matched {
      if let last = state.lastStep, step <= last {
        return .replay(Decision(reason: .replay, factor: label), audit(user, label, "replay"))
      }
      let reach = Int64(settings.totpMaximumDriftSteps)
      let next = TOTPState(
        lastStep: step, driftSteps: min(reach, max(-reach, step - current)), active: true,
        version: state.version)
      return .accepted(Decision(reason: .accepted, factor: label), move(next, "accepted", "accepted"))
    }
    var next = state
    let lockedNow = charge(&next.failures, &next.throttledUntil)
    next.hardLocked = state.hardLocked || lockedNow
    return .wrong(
      Decision(reason: .wrongCode, factor: label),
      [move(next, "refused", "wrong-code")] + lockLine(user, label, lockedNow))
  }

  /// A recovery code: used by a write that holds only while it is unused, so of concurrent uses
  /// exactly one succeeds; a miss counts against the user's recovery attempts.
  func plan(recoveryHashes: [[UInt8]], _ s: VerificationSnapshot) -> VerificationPlan {
    let label = "recovery"
    let state = s.attempts(.recovery)
    if let blocked = blocked(state, label) {
      return VerificationPlan(
        decision: blocked, writes: [.append(audit(s.user, label, blocked.reason.rawValue))])
    }
    var found: RecoveryCodeRecord?
    for row in s.recoveryCodes {
      for hash in recoveryHashes where ConstantTime.equals(row.hash, hash) { found = found ?? row }
    }
    guard let found else {
      return VerificationPlan(
        decision: Decision(reason: .wrongCode, factor: label),
        writes: failure(.recovery, state, s.user) + [.append(audit(s.user, label, "wrong-code"))])
    }
    guard !found.used else {
      // A second use of a real code (a double submit, a race) is a replay, not a guess.
      return VerificationPlan(
        decision: Decision(reason: .replay, factor: label), writes: [.append(audit(s.user, label, "replay"))])
    }
    return VerificationPlan(
      decision: Decision(reason: .accepted, factor: label),
      writes: [.useRecoveryCode(id: found.id, at: now)] + cleared(.recovery, state, s.user)
        + [.append(audit(s.user, label, "accepted", result: "accepted"))])
  }

  // MARK: Attempts charged before a slow evaluation

  /// Charges one attempt of `kind` before it is evaluated (a password: too slow to evaluate inside
  /// a store's transaction). Refused unevaluated when throttled or locked; otherwise the plan's
  /// decision is ``Decision/Reason/wrongCode`` until the evaluation clears the charge.
  func charge(_ kind: AttemptKind, _ s: VerificationSnapshot) -> VerificationPlan {
    let state = s.attempts(kind)
    if let blocked = blocked(state, kind.rawValue) {
      return VerificationPlan(
        decision: blocked, writes: [.append(audit(s.user, kind.rawValue, blocked.reason.rawValue))])
    }
    return VerificationPlan(
      decision: Decision(reason: .wrongCode, factor: kind.rawValue), writes: failure(kind, state, s.user))
  }

  /// Clears the failures of `kind` after a success.
  func clear(_ kind: AttemptKind, _ s: VerificationSnapshot) -> VerificationPlan {
    VerificationPlan(
      decision: Decision(reason: .accepted, factor: kind.rawValue),
      writes: cleared(kind, s.attempts(kind), s.user))
  }

  // MARK: Unlocking

  /// Clears every delay and lock of the user: tokens, phone apps, passwords and recovery codes.
  func unlock(_ s: VerificationSnapshot) -> VerificationPlan {
    var writes: [VerificationPlan.Write] = []
    for factor in s.tokens where factor.state.failures > 0 || factor.state.hardLocked {
      var next = factor.state
      (next.failures, next.throttledUntil, next.hardLocked) = (0, nil, false)
      let label = HOTPVerifier.label(factor)
      writes.append(
        .token(
          factorID: factor.id, expectedVersion: factor.state.version, newState: next,
          audit: audit(s.user, label, "unlocked", action: "unlock", result: "done")))
    }
    for factor in s.phoneApps where factor.state.failures > 0 || factor.state.hardLocked {
      var next = factor.state
      (next.failures, next.throttledUntil, next.hardLocked) = (0, nil, false)
      writes.append(
        .phoneApp(
          factorID: factor.id, expectedVersion: factor.state.version, newState: next,
          audit: audit(s.user, "totp", "unlocked", action: "unlock", result: "done")))
    }
    for kind in AttemptKind.allCases {
      let cleared = cleared(kind, s.attempts(kind), s.user)
      writes += cleared
      if !cleared.isEmpty {
        writes.append(.append(audit(s.user, kind.rawValue, "unlocked", action: "unlock", result: "done")))
      }
    }
    if writes.isEmpty {
      writes = [.append(audit(s.user, nil, "nothing-locked", action: "unlock", result: "done"))]
    }
    return VerificationPlan(decision: Decision(reason: .accepted), writes: writes)
  }

  // MARK: Helpers

  /// The refusal of a factor that may not be evaluated now, if it is locked or throttled.
  func blocked(_ locked: Bool, _ throttledUntil: Int64?, _ label: String) -> Decision? {
    if locked { return Decision(reason: .locked, factor: label) }
    if let until = throttledUntil, now < until {
      return Decision(reason: .throttled, factor: label, retryAfterMilliseconds: until - now)
    }
    return nil
  }

  func blocked(_ state: AttemptState, _ label: String) -> Decision? {
    blocked(state.failures >= settings.hardLockAfter, state.throttledUntil, label)
  }

  /// Counts one failure into `failures` and `throttledUntil`; true if the lock now applies (it is
  /// the failure that locks, since a locked factor or kind is never evaluated).
  func charge(_ failures: inout Int, _ throttledUntil: inout Int64?) -> Bool {
    let outcome = settings.afterFailure(failures: failures, now: now)
    failures = outcome.failures
    throttledUntil = outcome.throttledUntil
    return outcome.hardLocked
  }

  func failure(_ kind: AttemptKind, _ state: AttemptState, _ user: UserRecord) -> [VerificationPlan.Write] {
    var next = state
    let lockedNow = charge(&next.failures, &next.throttledUntil)
    return [.attempts(userID: user.id, kind: kind, expectedVersion: state.version, newState: next)]
      + lockLine(user, kind.rawValue, lockedNow)
  }

  func cleared(_ kind: AttemptKind, _ state: AttemptState, _ user: UserRecord) -> [VerificationPlan.Write] {
    guard state.failures > 0 || state.throttledUntil != nil else { return [] }
    return [.attempts(userID: user.id, kind: kind, expectedVersion: state.version, newState: AttemptState())]
  }

  /// The audit line of a lock, when a failure is the one that locks.
  func lockLine(_ user: UserRecord, _ label: String, _ lockedNow: Bool) -> [VerificationPlan.Write] {
    guard lockedNow else { return [] }
    return [
      .append(
        audit(
          user, label, "locked after \(settings.hardLockAfter) failures", action: "lock", result: "done"))
    ]
  }

  func audit(
    _ user: UserRecord, _ factor: String?, _ reason: String, action: String = "verify",
    result: String = "refused",
    before: UInt64? = nil, after: UInt64? = nil
  ) -> AuditEntry {
    AuditEntry(
      at: now, user: user.name, factor: factor, action: action, result: result, reason: reason,
      counterBefore: before, counterAfter: after, source: source)
  }
}

extension MasterKeyRing {
  /// A token's HOTP generator: its secret is opened only here, and never leaves memory.
  func hotpGenerator(_ factor: HOTPFactorRecord) throws(VerifierError) -> HOTPGenerator {
    let secret = try open(factor.sealedSecret, context: HOTPVerifier.sealingContext(serial: factor.serial))
    do {
      return try HOTPGenerator(
        secret: OTPSecret(bytes: secret), algorithm: factor.algorithm, digits: factor.digits)
    } catch { throw .store(.corrupt("token \(factor.serial): \(error)")) }
  }

  /// A phone app's TOTP generator.
  func totpGenerator(_ factor: TOTPFactorRecord, user: String) throws(VerifierError) -> TOTPGenerator {
    let secret = try open(factor.sealedSecret, context: "totp:\(user)")
    do {
      return try TOTPGenerator(
        secret: OTPSecret(bytes: secret), algorithm: factor.algorithm, digits: factor.digits,
        period: factor.period)
    } catch { throw .store(.corrupt("phone-app factor of \(user): \(error)")) }
  }
}
