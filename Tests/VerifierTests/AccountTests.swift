import Foundation
import OneTimePassword
import Synchronization
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

  /// What `oathtool --totp` prints for this secret at `unixTime`.
  static func oathtool(_ secret: String, at unixTime: Int64) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["oathtool", "--totp", "-b", secret, "-N", "@\(unixTime)"]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    process.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  var now: Int64 { clock.nowMilliseconds() / 1000 }
}

@Suite struct TOTPTests {
  @Test(arguments: StoreKind.allCases)
  func oathtoolCodesAcceptedWithinTheDriftRefusedBeyondAndOnReuse(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    let uri = try f.accounts.enrollTOTP(user: "alice", issuer: "Example")
    let secret = uri.secret.base32
    #expect(uri.string.hasPrefix("otpauth://totp/Example:alice?secret="))
    // Not counting before confirmation.
    #expect(
      try f.accounts.verify(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now)).reason
        == .noFactor)
    // The phone runs 25 minutes ahead: confirmation learns it.
    let drift: Int64 = 25 * 60
    #expect(
      try f.accounts.confirmTOTP(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + drift))
        .isAccepted)
    f.clock.advance(seconds: 30)
    let code = try AccountFixture.oathtool(secret, at: f.now + drift)
    #expect(try f.accounts.verify(user: "alice", code: code).reason == .accepted)
    #expect(try f.accounts.verify(user: "alice", code: code).reason == .replay)  // every step single-use
    // One step either side of the learned drift is accepted; the drift follows the phone.
    f.clock.advance(seconds: 60)
    #expect(
      try f.accounts.verify(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + drift + 30))
        .isAccepted)
    f.clock.advance(seconds: 60)
    #expect(
      try f.accounts.verify(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + drift + 30))
        .isAccepted)
    // Far beyond: refused.
    f.clock.advance(seconds: 60)
    #expect(
      try f.accounts.verify(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + drift + 600))
        .reason == .wrongCode)
  }

  @Test(arguments: StoreKind.allCases)
  func confirmationBeyondThirtyMinutesIsRefused(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + 31 * 60)
      ).reason == .wrongCode)
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try AccountFixture.oathtool(secret, at: f.now - 29 * 60)
      ).isAccepted)
  }

  @Test(arguments: StoreKind.allCases)
  func driftCannotWalkAway(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    #expect(
      try f.accounts.confirmTOTP(
        user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + 29 * 60)
      ).isAccepted)
    // A phone that keeps running faster is followed only up to the bound of 30 minutes.
    var offset: Int64 = 29 * 60
    var accepted = 0
    for _ in 0..<6 {
      f.clock.advance(seconds: 60)
      offset += 30
      if try f.accounts.verify(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now + offset))
        .isAccepted
      {
        accepted += 1
      }
    }
    #expect(accepted >= 2 && accepted < 6)
  }
}

@Suite struct RecoveryAndAppPasswordTests {
  @Test(arguments: StoreKind.allCases)
  func tenConcurrentUsesOfOneCodeOneSuccess(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    let codes = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(codes.count == 10 && Set(codes).count == 10)
    #expect(codes.allSatisfy { $0.count == 9 && $0.dropFirst(4).first == "-" })
    for code in codes.prefix(3) {
      let wins = Atomic<Int>(0)
      let accounts = f.accounts
      DispatchQueue.concurrentPerform(iterations: 10) { _ in
        if (try? accounts.useRecoveryCode(user: "alice", code: code).isAccepted) == true {
          wins.add(1, ordering: .relaxed)
        }
      }
      #expect(wins.load(ordering: .relaxed) == 1)
      #expect(try !f.accounts.useRecoveryCode(user: "alice", code: code).isAccepted)  // never again
    }
    #expect(try f.accounts.remainingRecoveryCodes(user: "alice") == 7)
    #expect(try f.accounts.useRecoveryCode(user: "alice", code: codes[5].uppercased()).isAccepted)
    // A new set revokes the old one.
    let fresh = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(try f.accounts.useRecoveryCode(user: "alice", code: codes[6]).reason == .wrongCode)
    #expect(try f.accounts.remainingRecoveryCodes(user: "alice") == 10)
    #expect(try f.accounts.useRecoveryCode(user: "alice", code: fresh[0]).isAccepted)
  }

  @Test(arguments: StoreKind.allCases)
  func appPasswordWorksUntilRevokedAndAWrongOneCounts(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "correct horse")
    let password = try f.accounts.addAppPassword(user: "alice", label: "mail")
    #expect(password.count == 16 && password.allSatisfy { $0.isLowercase && $0.isLetter })
    #expect(throws: VerifierError.self) { try f.accounts.addAppPassword(user: "alice", label: "mail") }
    #expect(
      try f.accounts.login(user: "alice", password: password, code: nil) == .allowed(via: "app-password:mail")
    )
    #expect(try f.accounts.appPasswords(user: "alice").first?.lastUsedAt != nil)
    #expect(
      try f.accounts.login(user: "alice", password: "abcdefghijklmnop", code: nil)
        == .refused("wrong password"))
    #expect(try f.store.attempts(userID: 1, kind: "password").failures == 1)
    try f.accounts.revokeAppPassword(user: "alice", label: "mail")
    #expect(try f.accounts.login(user: "alice", password: password, code: nil) == .refused("wrong password"))
  }
}

@Suite struct LoginTests {
  @Test(arguments: StoreKind.allCases)
  func passwordThenCode(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "s3cret")
    #expect(try f.accounts.login(user: "alice", password: "s3cret", code: nil) == .allowed(via: "password"))
    let secret = try f.accounts.enrollTOTP(user: "alice").secret.base32
    _ = try f.accounts.confirmTOTP(user: "alice", code: try AccountFixture.oathtool(secret, at: f.now))
    #expect(try f.accounts.login(user: "alice", password: "s3cret", code: nil) == .codeRequired)
    #expect(try f.accounts.login(user: "alice", password: "wrong", code: nil) == .refused("wrong password"))
    f.clock.advance(seconds: 30)
    #expect(
      try f.accounts.login(
        user: "alice", password: "s3cret", code: try AccountFixture.oathtool(secret, at: f.now))
        == .allowed(via: "totp"))
    let recovery = try f.accounts.newRecoveryCodes(user: "alice")
    #expect(
      try f.accounts.login(user: "alice", password: "s3cret", code: recovery[0]) == .allowed(via: "recovery"))
    #expect(try f.accounts.login(user: "alice", password: "s3cret", code: recovery[0]) == .refused("replay"))
    // The application checked the password itself.
    f.clock.advance(seconds: 30)
    #expect(
      try f.accounts.login(
        user: "alice", password: nil, code: try AccountFixture.oathtool(secret, at: f.now),
        checkPassword: false) == .allowed(via: "totp"))
  }

  @Test(arguments: StoreKind.allCases)
  func mandatoryPolicyWithDeadlineAndTemporaryDisable(kind: StoreKind) throws {
    let f = try AccountFixture(kind)
    try f.accounts.setPassword(user: "alice", password: "pw")
    let deadline = f.clock.nowMilliseconds() + 7 * 86_400_000
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .group("staff"), deadline: deadline))
    // Not in the group.
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .allowed(via: "password"))
    try f.accounts.setGroups(user: "alice", groups: ["staff"])
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .allowedUntilDeadline(deadline))
    f.clock.advance(seconds: 8 * 86_400)
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
    // An administrator turns it off for alice for 3 days; it comes back by itself.
    try f.accounts.disableSecondFactor(user: "alice", days: 3)
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .allowed(via: "password"))
    f.clock.advance(seconds: 3 * 86_400 + 1)
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
    try f.accounts.setPolicy(LoginPolicy(mandatoryFor: .everyone, deadline: nil))
    try f.accounts.setGroups(user: "alice", groups: [])
    #expect(try f.accounts.login(user: "alice", password: "pw", code: nil) == .enrollmentRequired)
  }

  @Test func passwordHashesAreSaltedAndChecked() throws {
    let a = try PasswordHash.make("pw", rounds: 1000)
    let b = try PasswordHash.make("pw", rounds: 1000)
    #expect(a != b && a.hasPrefix("pbkdf2-sha256$1000$"))
    #expect(PasswordHash.verify("pw", against: a) && !PasswordHash.verify("pW", against: a))
    #expect(!PasswordHash.verify("pw", against: "pbkdf2-sha256$x$y$z"))
  }
}

@Suite struct OneJobVerificationTests {
  /// A store of `kind` with alice and her token (RFC 4226 key), the verifiers over it, and her
  /// token's code for a counter.
  static func alice(on kind: StoreKind) throws -> (
    any Accounts.Store & ClientKeyStore, HOTPVerifier, Accounts, (UInt64) -> String
  ) {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    try seedAlice(store, keys)
    let hotp = try HOTPVerifier(store: store, keys: keys, settings: VerifierSettings(), clock: ManualClock())
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: rfcKey))
    return (store, hotp, Accounts(store: store, hotp: hotp), { generator.code(counter: $0).text })
  }

  /// The service's hot path: on SQLite one writer job (on PostgreSQL one read) decides for a user
  /// with hardware tokens only; once the user has a phone app it declines, changing nothing, and
  /// `Accounts.verify` takes the path that looks at the phone apps first. Stores without such a
  /// job (the memory store) always decline.
  @Test(arguments: StoreKind.allCases)
  func decidesInOneJobOnlyForUsersWithoutPhoneApps(kind: StoreKind) throws {
    let (store, hotp, accounts, code) = try Self.alice(on: kind)

    // Accepted in the one job, or declined without reading anything (memory).
    func accepted(_ result: HOTPVerifier.HardwareOnlyResult) -> Bool? {
      if case .decided(let decision) = result { return decision.isAccepted }
      return nil
    }
    func phoneApps(_ result: HOTPVerifier.HardwareOnlyResult) -> [TOTPFactorRecord]?? {
      if case .phoneApps(let read) = result { return .some(read?.1) }
      return nil
    }
    let first = try hotp.verifyIfNoPhoneApps(user: "alice", code: code(0))
    if kind != .memory {
      #expect(accepted(first) == true)
      #expect(throws: VerifierError.unknownUser("bob")) {
        try hotp.verifyIfNoPhoneApps(user: "bob", code: code(1))
      }
    } else {
      #expect(phoneApps(first) == .some(nil))
      #expect(try accounts.verify(user: "alice", code: code(0)).isAccepted)
      #expect(phoneApps(try hotp.verifyIfNoPhoneApps(user: "bob", code: code(1))) == .some(nil))
    }

    _ = try accounts.enrollTOTP(user: "alice")
    let audit = try store.auditEntries(user: nil, limit: 1000).count
    let declined = try hotp.verifyIfNoPhoneApps(user: "alice", code: code(1))
    #expect(accepted(declined) == nil)
    // SQLite hands back the phone apps it read in that job, so the caller reads nothing again.
    let handed = phoneApps(declined)
    #expect(handed != nil)
    if kind == .sqlite { #expect(handed??.map(\.id) == (try store.totpFactors(userID: 1)).map(\.id)) }
    #expect(try store.auditEntries(user: nil, limit: 1000).count == audit)
    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 1)
    #expect(try accounts.verify(user: "alice", code: code(1)).isAccepted)
    #expect(try accounts.verify(user: "alice", code: code(1)).reason == .replay)
  }

  /// The same job without blocking a thread: PostgreSQL (on futures) and SQLite (resumed by the
  /// group commit) decide for a user without phone apps and decline, writing nothing, for one
  /// with; the memory store declines at once. The caller finishes on a thread with `verify` or
  /// `verifyWithPhoneApps`.
  @Test(arguments: StoreKind.allCases)
  func decidesWithoutBlockingWhereTheStoreCan(kind: StoreKind) async throws {
    let (store, _, accounts, code) = try Self.alice(on: kind)
    let audit = { try store.auditEntries(user: nil, limit: 1000).count }

    let first = try await accounts.verifyWithoutBlocking(user: "alice", code: code(0))
    guard kind != .memory else {
      #expect(first == nil)
      #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 0)
      #expect(try accounts.verify(user: "alice", code: code(0)).isAccepted)
      return
    }
    guard case .decided(let accepted)? = first,
      case .decided(let replayed)? =
        try await accounts.verifyWithoutBlocking(user: "alice", code: code(0))
    else {
      Issue.record("\(kind) declined to decide for a user without phone apps")
      return
    }
    #expect(accepted.isAccepted && replayed.reason == .replay)
    await #expect(throws: VerifierError.unknownUser("bob")) {
      try await accounts.verifyWithoutBlocking(user: "bob", code: code(1))
    }
    await #expect(throws: VerifierError.self) {
      try await accounts.verifyWithoutBlocking(user: "alice", code: "12")
    }

    _ = try accounts.enrollTOTP(user: "alice")
    let before = try audit()
    guard case .phoneApps(let read)? = try await accounts.verifyWithoutBlocking(user: "alice", code: code(1))
    else {
      Issue.record("a user with a phone app was decided on their tokens alone")
      return
    }
    #expect(try audit() == before)
    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 1)
    if kind == .sqlite { #expect(read?.1.map(\.id) == (try store.totpFactors(userID: 1)).map(\.id)) }
    #expect(try accounts.verifyWithPhoneApps(user: "alice", code: code(1), read: read).isAccepted)
    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 2)
  }

  /// A verifier decides from its memory of a user's tokens before it reads (one round trip), but
  /// never trusts it: another node's verifier (its own memory, the same store) moves the counter and
  /// then deletes the token, and every stale decision is made again on a fresh read. Each code is
  /// accepted once, a moved-on code is a replay, and a deleted token accepts nothing.
  @Test(arguments: StoreKind.allCases, [false, true])
  func aRememberedReadIsNeverTrusted(kind: StoreKind, blocking: Bool) async throws {
    let (store, a, _, code) = try Self.alice(on: kind)
    let b = try HOTPVerifier(store: store, keys: a.keys, settings: a.settings, clock: a.clock)
    func verify(_ verifier: HOTPVerifier, _ counter: UInt64) async throws -> Decision? {
      var result: HOTPVerifier.HardwareOnlyResult?
      if !blocking {
        result = try await verifier.verifyIfNoPhoneAppsWithoutBlocking(user: "alice", code: code(counter))
      }
      if result == nil { result = try verifier.verifyIfNoPhoneApps(user: "alice", code: code(counter)) }
      guard case .decided(let decision)? = result else {
        return kind == .memory ? try verifier.verify(user: "alice", code: code(counter)) : nil
      }
      return decision
    }
    #expect(try await verify(a, 0)?.reason == .accepted)
    #expect(try await verify(b, 1)?.reason == .accepted)
    #expect(try await verify(b, 2)?.reason == .accepted)
    // a remembers the counter at 1, where code 1 would be good: it is a replay now.
    #expect(try await verify(a, 1)?.reason == .replay)
    #expect(try await verify(a, 3)?.reason == .accepted)
    #expect(try store.hotpFactor(serial: "1")?.state.nextCounter == 4)

    let token = try #require(try store.hotpFactor(serial: "1"))
    try store.deleteHOTPFactor(
      id: token.id,
      audit: AuditEntry(
        at: 0, user: "alice", factor: "hotp:1", action: "delete", result: "done", reason: "deleted"))
    #expect(try await verify(a, 4)?.reason == .noFactor)
    let acceptances = try store.auditEntries(user: "alice", limit: 100).filter { $0.result == "accepted" }
    #expect(acceptances.compactMap(\.counterBefore).sorted() == [0, 1, 2, 3])
  }
}
