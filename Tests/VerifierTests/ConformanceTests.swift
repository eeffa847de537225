import Foundation
import OneTimePassword
import Synchronization
import StoreFixtures
import Testing
import Verifier

/// One suite every store must pass.
@Suite struct StoreConformanceTests {
  func sealed(_ keys: MasterKeyRing, _ serial: String) throws -> SealedSecret {
    try keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: serial))
  }

  func audit(_ action: String) -> AuditEntry {
    AuditEntry(at: 1, user: "u", factor: nil, action: action, result: "done", reason: action)
  }

  @Test(arguments: StoreKind.allCases)
  func usersAreUnique(kind: StoreKind) throws {
    let store = try kind.make()
    let alice = try store.createUser(name: "alice", audit: audit("user-add"))
    #expect(try store.user(named: "alice") == alice)
    #expect(throws: StoreError.self) { try store.createUser(name: "alice", audit: audit("user-add")) }
    #expect(try store.user(named: "bob") == nil)
    _ = try store.createUser(name: "bob", audit: audit("user-add"))
    #expect(try store.users().map(\.name) == ["alice", "bob"])
  }

  @Test(arguments: StoreKind.allCases)
  func serialsAreUniqueAndTokensBelongToOneUser(kind: StoreKind) throws {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    let alice = try store.createUser(name: "alice", audit: audit("a"))
    let factor = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: alice.id, serial: "1", digits: 6, algorithm: .sha1, sealedSecret: sealed(keys, "1"),
        counter: 5, active: true),
      audit: audit("register"))
    #expect(factor.state.nextCounter == 5 && factor.state.version == 0 && factor.userID == alice.id)
    #expect(throws: StoreError.conflict("token 1")) {
      try store.insertHOTPFactor(
        NewHOTPFactor(
          userID: nil, serial: "1", digits: 6, algorithm: .sha1, sealedSecret: sealed(keys, "1"), counter: 0,
          active: false),
        audit: audit("import"))
    }
    #expect(try store.hotpFactors(userID: alice.id).map(\.serial) == ["1"])
    #expect(try keys.open(store.hotpFactor(serial: "1")!.sealedSecret, context: "hotp:1") == rfcKey)
  }

  @Test(arguments: StoreKind.allCases)
  func compareAndSetMovesOnlyFromTheExpectedVersion(kind: StoreKind) throws {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    let user = try store.createUser(name: "alice", audit: audit("a"))
    let factor = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: user.id, serial: "7", digits: 8, algorithm: .sha256, sealedSecret: sealed(keys, "7"),
        counter: 0, active: true),
      audit: audit("register"))
    var next = factor.state
    next.nextCounter = 3
    next.pendingMiss = 40
    next.pendingMissExpiry = 99
    next.throttledUntil = 1234
    #expect(
      try store.compareAndSet(factorID: factor.id, expectedVersion: 0, newState: next, audit: audit("verify"))
    )
    #expect(
      try !store.compareAndSet(
        factorID: factor.id, expectedVersion: 0, newState: next, audit: audit("verify")))
    let stored = try #require(try store.hotpFactor(serial: "7"))
    #expect(
      stored.state.version == 1 && stored.state.nextCounter == 3 && stored.state.pendingMiss == 40)
    #expect(stored.state.pendingMissExpiry == 99 && stored.state.throttledUntil == 1234)
    #expect(stored.digits == 8 && stored.algorithm == .sha256)
    // Only the winning compare-and-set left an audit line.
    #expect(try store.auditEntries(user: nil, limit: 10).filter { $0.action == "verify" }.count == 1)
  }

  @Test(arguments: StoreKind.allCases)
  func importIsAllOrNothing(kind: StoreKind) throws {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    func token(_ serial: String) throws -> NewHOTPFactor {
      NewHOTPFactor(
        userID: nil, serial: serial, digits: 6, algorithm: .sha1, sealedSecret: try sealed(keys, serial),
        counter: 0, active: false)
    }
    try store.importHOTPFactors([token("a"), token("b")], replace: false, audit: audit("import"))
    #expect(throws: StoreError.self) {
      try store.importHOTPFactors([token("c"), token("b")], replace: false, audit: audit("import"))
    }
    #expect(try store.hotpFactor(serial: "c") == nil)
    try store.importHOTPFactors([token("c"), token("b")], replace: true, audit: audit("import"))
    #expect(try store.hotpFactor(serial: "c") != nil)
    #expect(throws: StoreError.self) {
      try store.importHOTPFactors([token("d"), token("d")], replace: true, audit: audit("import"))
    }
  }

  @Test(arguments: StoreKind.allCases)
  func assignSetsTheOwnerUnderCompareAndSet(kind: StoreKind) throws {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    try store.importHOTPFactors(
      [
        NewHOTPFactor(
          userID: nil, serial: "s", digits: 6, algorithm: .sha1, sealedSecret: sealed(keys, "s"), counter: 0,
          active: false)
      ],
      replace: false, audit: audit("import"))
    let user = try store.createUser(name: "carol", audit: audit("a"))
    let factor = try #require(try store.hotpFactor(serial: "s"))
    #expect(!factor.active && factor.userID == nil)
    #expect(
      try !store.assign(
        factorID: factor.id, to: user.id, expectedVersion: 5, newState: factor.state, audit: audit("assign")))
    #expect(
      try store.assign(
        factorID: factor.id, to: user.id, expectedVersion: 0, newState: factor.state, audit: audit("assign")))
    let assigned = try #require(try store.hotpFactor(serial: "s"))
    #expect(assigned.active && assigned.userID == user.id && assigned.state.version == 1)
    try store.deleteHOTPFactor(id: assigned.id, audit: audit("remove"))
    #expect(try store.hotpFactor(serial: "s") == nil)
    #expect(throws: StoreError.self) { try store.deleteHOTPFactor(id: assigned.id, audit: audit("remove")) }
  }

  @Test(arguments: StoreKind.allCases)
  func auditIsNewestFirstAndFilteredByUser(kind: StoreKind) throws {
    let store = try kind.make()
    for (index, user) in ["a", "b", "a"].enumerated() {
      try store.append(
        AuditEntry(
          at: Int64(index), user: user, factor: "hotp:1", action: "verify", result: "refused",
          reason: "wrong-code", counterBefore: 3, counterAfter: 3))
    }
    let entries = try store.auditEntries(user: "a", limit: 10)
    #expect(entries.map(\.at) == [2, 0])
    #expect(entries.first?.counterBefore == 3)
    #expect(try store.auditEntries(user: nil, limit: 2).count == 2)
  }
}

/// The one store requirement of a verification, ``VerifierStore/runVerification(_:)``, held to the
/// same rules by every store: the snapshot holds what was asked, the plan's writes hold all or
/// none, and each kind of write is conditional on the state the plan was made from.
@Suite struct VerificationJobConformanceTests {
  let audit = AuditEntry(at: 1, user: "alice", factor: nil, action: "verify", result: "done", reason: "job")

  /// alice with a token, a phone app and a set of two recovery codes.
  func seeded(_ kind: StoreKind) throws -> (
    any Accounts.Store & ClientKeyStore, HOTPFactorRecord, TOTPFactorRecord
  ) {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    let user = try store.createUser(name: "alice", audit: audit)
    let token = try store.insertHOTPFactor(
      NewHOTPFactor(
        userID: user.id, serial: "1", digits: 6, algorithm: .sha1,
        sealedSecret: keys.seal(rfcKey, context: HOTPVerifier.sealingContext(serial: "1")), counter: 0,
        active: true),
      audit: audit)
    let phone = try store.insertTOTPFactor(
      userID: user.id, sealedSecret: keys.seal(rfcKey, context: "totp:alice"), digits: 6, period: 30,
      algorithm: .sha1, audit: audit)
    try store.replaceRecoveryCodes(userID: user.id, hashes: [[1, 2, 3], [4, 5, 6]], audit: audit)
    return (store, token, phone)
  }

  /// Runs `plan` on a snapshot of `reads`, handing the snapshot out too.
  func run(
    _ store: any VerifierStore, _ reads: SnapshotParts,
    _ plan: @escaping @Sendable (VerificationSnapshot) -> [VerificationPlan.Write] = { _ in [] }
  ) async throws -> (VerificationPlan, VerificationSnapshot)? {
    let seen = Mutex<VerificationSnapshot?>(nil)
    let job = VerificationJob(userName: "alice", reads: reads) { snapshot in
      seen.withLock { $0 = snapshot }
      return VerificationPlan(decision: Decision(reason: .accepted), writes: plan(snapshot))
    }
    guard let result = try await store.runVerification(job) else { return nil }
    return (result, try #require(seen.withLock { $0 }))
  }

  @Test(arguments: StoreKind.allCases)
  func theSnapshotHoldsWhatWasAsked(kind: StoreKind) async throws {
    let (store, token, phone) = try seeded(kind)
    let missing = VerificationJob(userName: "bob", reads: .all) { _ in
      Issue.record("a plan was made for an unknown user")
      return VerificationPlan(decision: Decision(reason: .noFactor), writes: [])
    }
    #expect(try await store.runVerification(missing) == nil)
    let (_, all) = try #require(try await run(store, .all))
    #expect(
      all.user.name == "alice" && all.tokens.map(\.id) == [token.id] && all.phoneApps.map(\.id) == [phone.id])
    #expect(
      all.recoveryCodes.map(\.hash) == [[1, 2, 3], [4, 5, 6]] && all.recoveryCodes.allSatisfy { !$0.used })
    #expect(all.attempts(.password) == AttemptState())
    let (_, tokensOnly) = try #require(try await run(store, .tokens))
    #expect(tokensOnly.tokens.count == 1 && tokensOnly.phoneApps.isEmpty && tokensOnly.recoveryCodes.isEmpty)
  }

  /// Every kind of write applies when its condition holds, and moves its row's version on.
  @Test(arguments: StoreKind.allCases)
  func everyKindOfWriteApplies(kind: StoreKind) async throws {
    let (store, token, phone) = try seeded(kind)
    let lines = try store.auditEntries(user: nil, limit: 1000).count
    let (plan, _) = try #require(
      try await run(store, .all) { s in
        var tokenState = s.tokens[0].state
        tokenState.nextCounter = 7
        var phoneState = s.phoneApps[0].state
        phoneState.lastStep = 99
        return [
          .token(factorID: token.id, expectedVersion: 0, newState: tokenState, audit: audit),
          .phoneApp(factorID: phone.id, expectedVersion: 0, newState: phoneState, audit: audit),
          .attempts(
            userID: s.user.id, kind: .recovery, expectedVersion: 0,
            newState: AttemptState(failures: 3, throttledUntil: 42)),
          .useRecoveryCode(id: s.recoveryCodes[0].id, at: 5),
          .append(audit),
        ]
      })
    #expect(!plan.lost)
    let (_, after) = try #require(try await run(store, .all))
    #expect(after.tokens[0].state.nextCounter == 7 && after.tokens[0].state.version == 1)
    #expect(after.phoneApps[0].state.lastStep == 99 && after.phoneApps[0].state.version == 1)
    #expect(after.attempts(.recovery) == AttemptState(failures: 3, throttledUntil: 42, version: 1))
    #expect(after.recoveryCodes.map(\.used) == [true, false])
    #expect(try store.auditEntries(user: nil, limit: 1000).count == lines + 3)
  }

  /// A plan whose last write does not hold leaves nothing of its other writes, for each kind of
  /// condition: a token or phone app moved since, a counter moved since, a recovery code used.
  @Test(arguments: StoreKind.allCases)
  func aWriteThatDoesNotHoldUndoesTheWholePlan(kind: StoreKind) async throws {
    let (store, token, phone) = try seeded(kind)
    let stale: [@Sendable (VerificationSnapshot) -> VerificationPlan.Write] = [
      { s in .token(factorID: token.id, expectedVersion: 9, newState: s.tokens[0].state, audit: audit) },
      { s in .phoneApp(factorID: phone.id, expectedVersion: 9, newState: s.phoneApps[0].state, audit: audit)
      },
      { s in .attempts(userID: s.user.id, kind: .password, expectedVersion: 9, newState: AttemptState()) },
      { s in .useRecoveryCode(id: s.recoveryCodes[1].id, at: 1) },
    ]
    // The second recovery code is used first, so using it again does not hold.
    _ = try await run(store, .recoveryCodes) { s in [.useRecoveryCode(id: s.recoveryCodes[1].id, at: 1)] }
    let lines = try store.auditEntries(user: nil, limit: 1000).count
    for last in stale {
      let (plan, _) = try #require(
        try await run(store, .all) { s in
          var moved = s.tokens[0].state
          moved.nextCounter = 5
          return [
            .token(
              factorID: token.id, expectedVersion: s.tokens[0].state.version, newState: moved, audit: audit),
            .attempts(
              userID: s.user.id, kind: .recovery, expectedVersion: 0, newState: AttemptState(failures: 1)),
            .useRecoveryCode(id: s.recoveryCodes[0].id, at: 5),
            .append(audit),
            last(s),
          ]
        })
      #expect(plan.lost)
      let (_, after) = try #require(try await run(store, .all))
      #expect(after.tokens[0].state.nextCounter == 0 && after.tokens[0].state.version == 0)
      #expect(after.attempts(.recovery) == AttemptState())
      #expect(after.recoveryCodes.map(\.used) == [false, true])
      #expect(try store.auditEntries(user: nil, limit: 1000).count == lines)
    }
  }
}

@Suite struct ClientKeyConformanceTests {
  @Test(arguments: StoreKind.allCases)
  func keysAreFoundByHashScopedAndRevocable(kind: StoreKind) throws {
    let store = try kind.make()
    let keys = ClientKeys(store: store)
    let admin = try keys.issue(name: "console", scope: .admin)
    let shop = try keys.issue(name: "webshop", scope: .verify)
    #expect(admin.hasPrefix("otk_") && admin.count == 68 && admin != shop)
    #expect(try keys.authenticate(admin)?.scope == .admin)
    #expect(try keys.authenticate(shop)?.name == "webshop")
    #expect(throws: VerifierError.store(.conflict("API key webshop"))) {
      try keys.issue(name: "webshop", scope: .admin)
    }
    #expect(throws: VerifierError.self) { try keys.issue(name: "no spaces", scope: .admin) }
    // A key one character off, a truncated one and garbage are all unknown.
    let last = shop.last == "0" ? "1" : "0"
    #expect(try keys.authenticate(String(shop.dropLast()) + last) == nil)
    #expect(try keys.authenticate(String(shop.dropLast())) == nil)
    #expect(try keys.authenticate("") == nil)
    try keys.revoke(name: "webshop")
    #expect(try keys.authenticate(shop) == nil)
    #expect(throws: VerifierError.notFound("a live API key named webshop")) {
      try keys.revoke(name: "webshop")
    }
    #expect(try keys.list().map { "\($0.name) \($0.revokedAt == nil)" } == ["console true", "webshop false"])
    let actions = try store.auditEntries(user: nil, limit: 10).map(\.action)
    #expect(actions.filter { $0.hasPrefix("client-key") }.count == 3)
  }
}
