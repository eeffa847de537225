import Foundation
import OneTimePassword
import Synchronization
import StoreFixtures
import Testing
import Verifier
import VerifierSQLite

/// A verifier with the account side, on a store of each kind, with a manual clock.
struct AccountFixture {
  let store: any Accounts.Store
  let clock = ManualClock()
  let accounts: Accounts

  init(_ kind: StoreKind) throws {
    store = try kind.make()
    var settings = VerifierSettings()
    settings.passwordRounds = 1000  // tests need no slow hash
    let hotp = try HOTPVerifier(
      store: store, keys: MasterKeyRing.generate(), settings: settings, clock: clock)
    accounts = Accounts(store: store, hotp: hotp)
    _ = try store.createUser(name: "alice", audit: Fixture.audit("user-add"))
  }

  var now: Int64 { clock.nowMilliseconds() / 1000 }
}

@Suite struct TOTPTests {
  @Test(arguments: StoreKind.allCases)
  func oathtoolCodesAcceptedWithinTheDriftRefusedBeyondAndOnReuse(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let uri = try f.accounts.enrollTOTP(user: "alice", issuer: "Example")
    let secret = uri.secret.base32
    #expect(uri.string.hasPrefix("otpauth://totp/Example:alice?secret="))
    // Not counting before confirmation.
    #expect(
      try await f.accounts.verify(user: "alice", code: try oathtool(secret, at: f.now)).reason
        == .noFactor)
    // The phone runs 25 minutes ahead: confirmation learns it.
    let drift: Int64 = 25 * 60
    #expect(
      try f.accounts.confirmTOTP(user: "alice", code: try oathtool(secret, at: f.now + drift))
        .isAccepted)
    f.clock.advance(seconds: 30)
    let code = try oathtool(secret, at: f.now + drift)
    #expect(try await f.accounts.verify(user: "alice", code: code).reason == .accepted)
    // Every step is single-use.
    #expect(try await f.accounts.verify(user: "alice", code: code).reason == .replay)
    // One step either side of the learned drift is accepted; the drift follows the phone.
    f.clock.advance(seconds: 60)
    #expect(
      try await f.accounts.verify(
        user: "alice", code: try oathtool(secret, at: f.now + drift + 30)
      )
      .isAccepted)
    f.clock.advance(seconds: 60)
    #expect(
      try await f.accounts.verify(
        user: "alice", code: try oathtool(secret, at: f.now + drift + 30)
      )
      .isAccepted)
    // Far beyond: refused.
    f.clock.advance(seconds: 60)
    #expect(
      try await f.accounts.verify(
        user: "alice", code: try oathtool(secret, at: f.now + drift + 600)
      )
      .reason == .wrongCode)
  }

  @Test(arguments: StoreKind.allCases)
  func confirmationBeyondThirtyMinutesIsRefused(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try oathtool(secret, at: f.now + 31 * 60)
      ).reason == .wrongCode)
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try oathtool(secret, at: f.now - 29 * 60)
      ).isAccepted)
  }

  @Test(arguments: StoreKind.allCases)
  func driftCannotWalkAway(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try oathtool(secret, at: f.now + 29 * 60)
      ).isAccepted)
    // A phone that keeps running faster is followed only up to the bound of 30 minutes.
    var offset: Int64 = 29 * 60
    var accepted = 0
    for _ in 0..<6 {
      f.clock.advance(seconds: 60)
      offset += 30
      if try await f.accounts.verify(
        user: "alice", code: try oathtool(secret, at: f.now + offset)
      )
      .isAccepted {
        accepted += 1
      }
    }
    #expect(accepted >= 2 && accepted < 6)
  }
}

@Suite struct RecoveryAndAppPasswordTests {
  @Test(arguments: StoreKind.allCases)
  func tenConcurrentUsesOfOneCodeOneSuccess(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    let codes = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(codes.count == 10 && Set(codes).count == 10)
    #expect(codes.allSatisfy { $0.count == 9 && $0.dropFirst(4).first == "-" })
    for code in codes.prefix(3) {
      let accounts = f.accounts
      let wins = await withTaskGroup(of: Bool.self) { group in
        for _ in 0..<10 {
          group.addTask { (try? await accounts.verify(user: "alice", code: code).isAccepted) == true }
        }
        return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
      }
      #expect(wins == 1)
      #expect(try await f.accounts.verify(user: "alice", code: code).reason == .replay)  // never again
    }
    #expect(try f.accounts.remainingRecoveryCodes(user: "alice") == 7)
    #expect(try await f.accounts.verify(user: "alice", code: codes[5].uppercased()).isAccepted)
    // A new set revokes the old one.
    let fresh = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(try await f.accounts.verify(user: "alice", code: codes[6]).reason == .wrongCode)
    #expect(try f.accounts.remainingRecoveryCodes(user: "alice") == 10)
    #expect(try await f.accounts.verify(user: "alice", code: fresh[0]).isAccepted)
  }

  @Test(arguments: StoreKind.allCases)
  func appPasswordWorksUntilRevokedAndAWrongOneCounts(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "correct horse")
    let password = try f.accounts.addAppPassword(user: "alice", label: "mail")
    #expect(password.count == 16 && password.allSatisfy { $0.isLowercase && $0.isLetter })
    #expect(throws: VerifierError.self) { try f.accounts.addAppPassword(user: "alice", label: "mail") }
    #expect(
      try await f.accounts.login(user: "alice", password: password, code: nil)
        == .allowed(via: "app-password:mail")
    )
    #expect(try f.accounts.appPasswords(user: "alice").first?.lastUsedAt != nil)
    #expect(
      try await f.accounts.login(user: "alice", password: "abcdefghijklmnop", code: nil)
        == .refused("wrong user name or password"))
    #expect(try await attempts(f.store, "alice")[.password]?.failures == 1)
    try f.accounts.revokeAppPassword(user: "alice", label: "mail")
    #expect(
      try await f.accounts.login(user: "alice", password: password, code: nil)
        == .refused("wrong user name or password"))
  }
}

@Suite struct LoginTests {
  @Test(arguments: StoreKind.allCases)
  func passwordThenCode(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "s3cret")
    #expect(
      try await f.accounts.login(user: "alice", password: "s3cret", code: nil) == .allowed(via: "password"))
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    _ = try f.accounts.confirmTOTP(user: "alice", code: try oathtool(secret, at: f.now))
    #expect(try await f.accounts.login(user: "alice", password: "s3cret", code: nil) == .codeRequired)
    #expect(
      try await f.accounts.login(user: "alice", password: "wrong", code: nil)
        == .refused("wrong user name or password"))
    f.clock.advance(seconds: 30)
    #expect(
      try await f.accounts.login(
        user: "alice", password: "s3cret", code: try oathtool(secret, at: f.now))
        == .allowed(via: "totp"))
    let recovery = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(
      try await f.accounts.login(user: "alice", password: "s3cret", code: recovery[0])
        == .allowed(via: "recovery"))
    #expect(
      try await f.accounts.login(user: "alice", password: "s3cret", code: recovery[0]) == .refused("replay"))
    // The application checked the password itself.
    f.clock.advance(seconds: 30)
    #expect(
      try await f.accounts.login(
        user: "alice", password: nil, code: try oathtool(secret, at: f.now),
        checkPassword: false) == .allowed(via: "totp"))
  }

  @Test(arguments: StoreKind.allCases)
  func mandatoryPolicyWithDeadlineAndTemporaryDisable(kind: StoreKind) async throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "pw")
    let deadline = f.clock.nowMilliseconds() + 7 * 86_400_000
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .group("staff"), deadline: deadline))
    // Not in the group.
    #expect(try await f.accounts.login(user: "alice", password: "pw", code: nil) == .allowed(via: "password"))
    try f.accounts.setGroups(user: "alice", groups: ["staff"])
    #expect(
      try await f.accounts.login(user: "alice", password: "pw", code: nil) == .allowedUntilDeadline(deadline))
    f.clock.advance(seconds: 8 * 86_400)
    #expect(try await f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
    // An administrator turns it off for alice for 3 days; it comes back by itself.
    try f.accounts.disableSecondFactor(user: "alice", days: 3)
    #expect(try await f.accounts.login(user: "alice", password: "pw", code: nil) == .allowed(via: "password"))
    f.clock.advance(seconds: 3 * 86_400 + 1)
    #expect(try await f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .everyone, deadline: nil))
    try f.accounts.setGroups(user: "alice", groups: [])
    #expect(try await f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
  }

  @Test func passwordHashesAreSaltedAndChecked() throws {
    let a = try PasswordHash.make("pw", rounds: 1000)
    let b = try PasswordHash.make("pw", rounds: 1000)
    #expect(a != b && a.hasPrefix("pbkdf2-sha256$1000$"))
    #expect(PasswordHash.verify("pw", against: a) && !PasswordHash.verify("pW", against: a))
    #expect(!PasswordHash.verify("pw", against: "pbkdf2-sha256$x$y$z"))
  }
}
