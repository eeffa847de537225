import Foundation
import OneTimePassword
import StoreFixtures
import Testing
import Verifier

/// The ends of things, on every store: a lost phone, revoked codes, a changed password, a deleted
/// user, and browser sessions.
@Suite struct LifecycleTests {
  @Test(arguments: StoreKind.allCases)
  func aRemovedPhoneAppsCodesStopWorking(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    #expect(try f.accounts.confirmTOTP(user: "alice", code: try oathtool(secret, at: f.now)).isAccepted)
    let id = try #require(try f.accounts.factorSummary(user: "alice").phoneApps.first?.id)
    #expect(throws: VerifierError.notFound("phone app \(id + 1) of alice")) {
      try f.accounts.removePhoneApp(user: "alice", id: id + 1)
    }
    try f.accounts.removePhoneApp(user: "alice", id: id)
    f.clock.advance(seconds: 30)
    #expect(
      try await f.accounts.verify(user: "alice", code: try oathtool(secret, at: f.now)).reason == .noFactor)
    #expect(try f.accounts.factorSummary(user: "alice").phoneApps.isEmpty)
    #expect(try f.store.auditEntries(user: "alice", limit: 5).contains { $0.action == "totp-remove" })
  }

  @Test(arguments: StoreKind.allCases)
  func revokedRecoveryCodesAreRefused(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let codes = try f.accounts.newRecoveryCodes(user: "alice")
    try f.accounts.revokeRecoveryCodes(user: "alice")
    #expect(try f.accounts.remainingRecoveryCodes(user: "alice") == 0)
    #expect(try await f.accounts.verify(user: "alice", code: codes[0]).isAccepted == false)
  }

  @Test(arguments: StoreKind.allCases)
  func changingThePasswordNeedsTheCurrentOneAndEndsSessions(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "old")
    let user = try #require(try f.store.user(named: "alice"))
    let (id, hash) = BrowserSession.newID()
    let now = f.clock.nowMilliseconds()
    try f.store.insertSession(
      BrowserSession(
        idHash: hash, userID: user.id, userName: "alice", stage: .signedIn, csrf: "c", createdAt: now,
        expiresAt: now + 60_000))
    #expect(try f.store.session(idHash: BrowserSession.hash(id), now: now)?.userName == "alice")
    #expect(try await f.accounts.changePassword(user: "alice", current: "wrong", new: "new") == false)
    #expect(try await attempts(f.store, "alice")[.password]?.failures == 1)
    #expect(try f.store.session(idHash: hash, now: now) != nil)
    #expect(try await f.accounts.changePassword(user: "alice", current: "old", new: "new"))
    #expect(try await attempts(f.store, "alice")[.password]?.failures == 0)
    #expect(try f.store.session(idHash: hash, now: now) == nil)
    #expect(
      try await f.accounts.login(user: "alice", password: "old", code: nil)
        == .refused(Accounts.wrongCredentials))
    #expect(
      try await f.accounts.login(user: "alice", password: "new", code: nil) == .allowed(via: "password"))
  }

  @Test(arguments: StoreKind.allCases)
  func aDeletedUsersTokensReturnToTheInventoryAndTheNameIsFree(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    let user = try #require(try f.store.user(named: "alice"))
    let before = try #require(try f.store.hotpFactor(serial: f.serial))
    #expect(try await f.verify(0) == .accepted)
    let now = f.clock.nowMilliseconds()
    try f.store.insertSession(
      BrowserSession(
        idHash: [1, 2, 3], userID: user.id, userName: "alice", stage: .signedIn, csrf: "c", createdAt: now,
        expiresAt: now + 60_000))
    try f.accounts.deleteUser(name: "alice")
    #expect(throws: VerifierError.unknownUser("alice")) { try f.accounts.deleteUser(name: "alice") }
    let after = try #require(try f.store.hotpFactor(serial: f.serial))
    #expect(after.userID == nil && !after.active && after.state.version > before.state.version)
    #expect(try f.store.session(idHash: [1, 2, 3], now: now) == nil)
    await #expect(throws: VerifierError.unknownUser("alice")) { try await f.verify(1) }
    // A new alice has nothing of the old one.
    try f.accounts.createUser(name: "alice")
    #expect(try await f.verify(1) == .noFactor)
    #expect(try f.store.auditEntries(user: "alice", limit: 10).contains { $0.action == "user-delete" })
  }

  @Test(arguments: StoreKind.allCases)
  func sessionsExpireAndEndOneOrAll(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    let user = try #require(try f.store.user(named: "alice"))
    let now = f.clock.nowMilliseconds()
    func session(_ hash: [UInt8], _ stage: BrowserSession.Stage, lasting: Int64) -> BrowserSession {
      BrowserSession(
        idHash: hash, userID: user.id, userName: "alice", stage: stage, csrf: "t\(hash[0])", createdAt: now,
        expiresAt: now + lasting)
    }
    try f.store.insertSession(session([1], .code, lasting: 1000))
    try f.store.insertSession(session([2], .signedIn, lasting: 5000))
    try f.store.insertSession(session([3], .enrolOnly, lasting: 5000))
    #expect(try f.store.session(idHash: [1], now: now) == session([1], .code, lasting: 1000))
    #expect(try f.store.session(idHash: [1], now: now + 1000) == nil)
    #expect(try f.store.session(idHash: [9], now: now) == nil)
    try f.store.deleteSession(idHash: [2])
    #expect(try f.store.session(idHash: [2], now: now) == nil)
    #expect(try f.store.session(idHash: [3], now: now)?.stage == .enrolOnly)
    try f.store.deleteSessions(userID: user.id)
    #expect(try f.store.session(idHash: [3], now: now) == nil)
  }
}
