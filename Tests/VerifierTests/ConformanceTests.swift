import Foundation
import OneTimePassword
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
    next.pendingResyncCounter = 40
    next.pendingResyncExpiry = 99
    next.throttledUntil = 1234
    #expect(
      try store.compareAndSet(factorID: factor.id, expectedVersion: 0, newState: next, audit: audit("verify"))
    )
    #expect(
      try !store.compareAndSet(
        factorID: factor.id, expectedVersion: 0, newState: next, audit: audit("verify")))
    let stored = try #require(try store.hotpFactor(serial: "7"))
    #expect(
      stored.state.version == 1 && stored.state.nextCounter == 3 && stored.state.pendingResyncCounter == 40)
    #expect(stored.state.pendingResyncExpiry == 99 && stored.state.throttledUntil == 1234)
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
