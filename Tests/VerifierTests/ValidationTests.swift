import Foundation
import OneTimePassword
import StoreFixtures
import Testing
import Verifier

/// The one-field validation of /validate/check and RADIUS, on every store.
@Suite struct ValidationTests {
  /// alice with the password "pw" and the RFC 4226 token.
  func fixture(_ kind: StoreKind) throws -> Fixture {
    var settings = VerifierSettings()
    settings.passwordRounds = 1000
    let f = try Fixture(kind, settings: settings)
    try f.accounts.setPassword(user: "alice", password: "pw")
    return f
  }

  @Test(arguments: StoreKind.allCases)
  func aChallengeIsAnsweredOnceByItsUserWithinItsTime(kind: StoreKind) async throws {
    let f = try fixture(kind)
    func challenge() async throws -> String {
      guard
        case .challenge(let id, let expiry) = try await f.accounts.validate(
          user: "alice", pass: "pw", transaction: nil, field: .password, source: nil)
      else { throw CancellationError() }
      #expect(expiry == f.clock.nowMilliseconds() + Accounts.challengeMilliseconds)
      return id
    }
    let first = try await challenge()
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: f.code(0), transaction: first, field: .password, source: nil)
        == .accept(via: "hotp:\(f.serial)"))
    // Used up, even with the next good code.
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: f.code(1), transaction: first, field: .password, source: nil)
        == .reject("unknown or expired transaction"))
    // Bound to its user.
    try f.accounts.createUser(name: "bob")
    let second = try await challenge()
    #expect(
      try await f.accounts.validate(
        user: "bob", pass: f.code(1), transaction: second, field: .password, source: nil)
        == .reject("unknown or expired transaction"))
    // Expired.
    let third = try await challenge()
    f.clock.advance(seconds: 121)
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: f.code(1), transaction: third, field: .password, source: nil)
        == .reject("unknown or expired transaction"))
    #expect(f.state.nextCounter == 1, "no code was spent on a refused transaction")
  }

  @Test(arguments: StoreKind.allCases)
  func passwordAndCodeInOneFieldOnceAndNeverAWrongPassword(kind: StoreKind) async throws {
    let f = try fixture(kind)
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: "pw" + f.code(0), transaction: nil, field: .password, source: nil)
        == .accept(via: "hotp:\(f.serial)"))
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: "pw" + f.code(0), transaction: nil, field: .password, source: nil)
        == .reject("replay"))
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: "px" + f.code(1), transaction: nil, field: .password, source: nil)
        == .reject(Accounts.wrongCredentials))
    #expect(f.state.nextCounter == 1)
  }

  @Test(arguments: StoreKind.allCases)
  func aCallerThatChecksThePasswordSendsTheCodeAlone(kind: StoreKind) async throws {
    let f = try fixture(kind)
    #expect(
      try await f.accounts.validate(
        user: "alice", pass: f.code(0), transaction: nil, field: .code, source: nil)
        == .accept(via: "hotp:\(f.serial)"))
    // The password is no code: bad input, which the protocols answer as a refusal.
    await #expect(throws: VerifierError.self) {
      try await f.accounts.validate(user: "alice", pass: "pw", transaction: nil, field: .code, source: nil)
    }
    let app = try f.accounts.addAppPassword(user: "alice", label: "vpn")
    #expect(
      try await f.accounts.validate(user: "alice", pass: app, transaction: nil, field: .password, source: nil)
        == .accept(via: "app-password:vpn"))
  }
}

@Suite struct IPNetworkTests {
  @Test func networksContainTheirAddresses() throws {
    let ten = try #require(IPNetwork("10.0.0.0/8"))
    #expect(ten.contains("10.255.1.2") && !ten.contains("11.0.0.0") && !ten.contains("::1"))
    #expect(ten.contains("::ffff:10.1.2.3"), "an IPv4 address mapped into IPv6")
    #expect(try #require(IPNetwork("127.0.0.1")).contains("127.0.0.1"))
    #expect(!(try #require(IPNetwork("127.0.0.1")).contains("127.0.0.2")))
    let six = try #require(IPNetwork("fd00::/8"))
    #expect(six.contains("fd12::1") && !six.contains("fe80::1"))
    #expect(try #require(IPNetwork("0.0.0.0/0")).contains("203.0.113.9"))
    #expect(try #require(IPNetwork("192.168.1.128/25")).contains("192.168.1.200"))
    #expect(!(try #require(IPNetwork("192.168.1.128/25")).contains("192.168.1.100")))
    #expect(IPNetwork("10.0.0.0/8")?.description == "10.0.0.0/8" && IPNetwork("::1")?.description == "::1")
  }

  @Test(arguments: [
    "", "10.0.0.0/", "10.0.0.0/33", "::1/129", "10.0.0.0/-1", "example.com", "10.0.0.0/8/8", "1.2.3",
  ])
  func anythingElseIsRefused(text: String) {
    #expect(IPNetwork(text) == nil)
  }
}
