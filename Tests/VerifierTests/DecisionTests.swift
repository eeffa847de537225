import Foundation
import OneTimePassword
import StoreFixtures
import Testing
import Verifier

/// The decision table of docs/verifier.md, against every store.
@Suite struct DecisionTests {
  @Test(arguments: StoreKind.allCases)
  func everyOffsetInTheWindowIsAccepted(kind: StoreKind) async throws {
    for offset in 0..<10 {
      let f = try Fixture(kind)
      #expect(try await f.verify(UInt64(offset)) == .accepted)
      #expect(f.state.nextCounter == UInt64(offset) + 1)
    }
  }

  @Test(arguments: StoreKind.allCases)
  func windowEdgeAndJustPast(kind: StoreKind) async throws {
    let f = try Fixture(kind, counter: 100)
    #expect(try await f.verify(109) == .accepted)  // last candidate of the window
    let g = try Fixture(kind, counter: 100)
    #expect(try await g.verify(110) == .wrongCode)  // just past: a failure, remembered for a resync
    #expect(g.state.nextCounter == 100 && g.state.failures == 1)
  }

  @Test(arguments: StoreKind.allCases)
  func replaysAreRefused(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    #expect(try await f.verify(0) == .accepted)
    #expect(try await f.verify(1) == .accepted)
    #expect(try await f.verify(1) == .replay)  // the last code
    #expect(try await f.verify(0) == .replay)  // an older one
    #expect(f.state.nextCounter == 2 && f.state.failures == 0)
    #expect(try f.store.auditEntries(user: "alice", limit: 1).first?.reason == "replay")
  }

  /// A secret whose 6-digit code at counter 29 recurs at counter 36, inside the look-ahead window
  /// of counter 30 (found by searching secrets; such a pair comes about once in 110,000 codes).
  static let recurringKey: [UInt8] = [
    0xad, 0x53, 0xbe, 0xe4, 0x9b, 0x7c, 0x53, 0xc5, 0xea, 0x36,
    0x3f, 0x55, 0x99, 0x77, 0x11, 0x5a, 0xad, 0x1f, 0x2b, 0x74,
  ]

  /// A used code stays used even where its value recurs in the window: it is refused as a replay,
  /// not accepted a second time at the later counter. (A node that lost the race to accept it
  /// decides again on the moved counter exactly like this.) The recurring press itself is then
  /// refused as a replay too, and the token's next press is accepted through the window.
  @Test(arguments: StoreKind.allCases)
  func aUsedCodeRecurringInTheWindowIsAReplay(kind: StoreKind) async throws {
    let f = try Fixture(kind, key: Self.recurringKey, counter: 29)
    #expect(f.code(29) == f.code(36))
    #expect(try await f.verify(29) == .accepted)
    #expect(try await f.verify(29) == .replay)
    #expect(f.state.nextCounter == 30)
    #expect(try await f.verify(30) == .accepted)
    #expect(try await f.verify(36) == .replay)
    #expect(try await f.verify(37) == .accepted)
    #expect(f.state.nextCounter == 38 && f.state.failures == 0)
  }

  @Test(arguments: StoreKind.allCases)
  func autoResyncWithTheNextCode(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    #expect(try await f.verify(500) == .wrongCode)
    // The miss is remembered masked: the stored number is not the code.
    let remembered = try #require(f.state.pendingMiss)
    #expect(remembered != UInt64(f.code(500)))
    #expect(try await f.verify(501) == .resynced)
    #expect(f.state.nextCounter == 502 && f.state.failures == 0 && f.state.pendingMiss == nil)
    #expect(try await f.verify(501) == .replay)
  }

  /// The answer to a code far ahead is the answer to any wrong code: it tells nothing.
  @Test(arguments: StoreKind.allCases)
  func aCodeAheadAndAWrongCodeGetTheSameAnswer(kind: StoreKind) async throws {
    let ahead = try Fixture(kind)
    let wrong = try Fixture(kind)
    let a = try await ahead.verify(600)
    let w = try await wrong.verify(text: wrong.wrongCode())
    #expect(a == w && a == .wrongCode)
    #expect(ahead.state.failures == wrong.state.failures)
  }

  @Test(arguments: StoreKind.allCases)
  func autoResyncRefusesAWrongOrLateSecondCode(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    #expect(try await f.verify(500) == .wrongCode)
    #expect(try await f.verify(503) == .wrongCode)  // not the next one: 503 is remembered instead
    #expect(try await f.verify(text: f.wrongCode()) == .wrongCode)
    #expect(f.state.nextCounter == 0 && f.state.failures == 3)
    let late = try Fixture(kind)
    #expect(try await late.verify(500) == .wrongCode)
    late.clock.advance(seconds: 301)
    #expect(try await late.verify(501) == .wrongCode)  // expired: 501 is remembered instead
    #expect(late.state.nextCounter == 0)
    #expect(try await late.verify(502) == .resynced)
  }

  @Test(arguments: StoreKind.allCases)
  func beyondTheSyncWindowIsWrong(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    #expect(try await f.verify(1000) == .wrongCode)
    #expect(f.state.failures == 1)
  }

  @Test(arguments: StoreKind.allCases)
  func explicitResync(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    let decision = try f.verifier.resync(user: "alice", codes: (f.code(7000), f.code(7001)))
    #expect(decision.reason == .resynced && decision.counter == 7001)
    #expect(f.state.nextCounter == 7002)
    #expect(try await f.verify(7002) == .accepted)
    // Not consecutive, or backwards: refused and counted.
    #expect(try f.verifier.resync(user: "alice", codes: (f.code(7100), f.code(7102))).reason == .wrongCode)
    #expect(try f.verifier.resync(user: "alice", codes: (f.code(10), f.code(11))).reason == .wrongCode)
    #expect(f.state.failures == 2)
    #expect(f.state.nextCounter == 7003)
  }

  @Test(arguments: StoreKind.allCases)
  func throttlingDelaysGrowAndSurviveTheDelay(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    let wrong = f.wrongCode()
    for _ in 0..<4 { #expect(try await f.verify(text: wrong) == .wrongCode) }
    #expect(f.state.throttledUntil == nil)
    #expect(try await f.verify(text: wrong) == .wrongCode)  // 5th failure: 1 s
    let start = f.clock.nowMilliseconds()
    #expect(f.state.throttledUntil == start + 1000)
    // Even the right code is refused unevaluated while throttled, and nothing moves.
    let throttled = try await f.accounts.verify(user: "alice", code: f.code(0))
    #expect(throttled.reason == .throttled && throttled.retryAfterMilliseconds == 1000)
    #expect(f.state.nextCounter == 0 && f.state.failures == 5)
    // Each further failure doubles the delay; the count survives the delays.
    var expected: [Int64] = []
    for n in 0..<4 {
      f.clock.advance(seconds: 3600)
      #expect(try await f.verify(text: wrong) == .wrongCode)
      expected.append(Int64(2000) << Int64(n))
      #expect(f.state.throttledUntil! - f.clock.nowMilliseconds() == expected.last!)
    }
    #expect(f.state.failures == 9)
    // A success after the delay resets everything.
    f.clock.advance(seconds: 3600)
    #expect(try await f.verify(0) == .accepted)
    #expect(f.state.failures == 0 && f.state.throttledUntil == nil)
  }

  @Test(arguments: StoreKind.allCases)
  func delaysAreCapped(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    let wrong = f.wrongCode()
    for _ in 0..<30 {
      f.clock.advance(seconds: 100_000)
      _ = try await f.verify(text: wrong)
    }
    #expect(f.state.throttledUntil! - f.clock.nowMilliseconds() == 900_000)
  }

  @Test(arguments: StoreKind.allCases)
  func hardLockNeedsAnAdministrator(kind: StoreKind) async throws {
    var settings = VerifierSettings()
    settings.hardLockAfter = 20
    let f = try Fixture(kind, settings: settings)
    let wrong = f.wrongCode()
    for _ in 0..<20 {
      f.clock.advance(seconds: 100_000)
      _ = try await f.verify(text: wrong)
    }
    #expect(f.state.hardLocked)
    f.clock.advance(seconds: 1_000_000)
    let locked = try await f.accounts.verify(user: "alice", code: f.code(0))
    #expect(locked.reason == .locked)  // the right code, refused without saying so
    try await f.accounts.unlock(user: "alice")
    #expect(!f.state.hardLocked && f.state.failures == 0)
    #expect(try await f.verify(0) == .accepted)
  }

  @Test(arguments: StoreKind.allCases)
  func eightDigitSHA256Tokens(kind: StoreKind) async throws {
    let key = Array("12345678901234567890123456789012".utf8)
    let f = try Fixture(kind, key: key, digits: 8, algorithm: .sha256)
    #expect(f.code(3).count == 8)
    #expect(try await f.verify(3) == .accepted)
    // 6 digits never match an 8-digit token: bad input, not a guess.
    await #expect(throws: VerifierError.invalidInput("a code of this user's factors is 8 digits")) {
      try await f.verify(text: String(f.code(4).prefix(6)))
    }
    #expect(f.state.failures == 0)
  }

  @Test(arguments: StoreKind.allCases)
  func badInputChangesNothing(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    for text in ["", "12345", "12a456", String(repeating: "9", count: 100_000)] {
      await #expect(throws: VerifierError.self) { try await f.verify(text: text) }
    }
    await #expect(throws: VerifierError.unknownUser("bob")) {
      try await f.accounts.verify(user: "bob", code: "123456")
    }
    #expect(f.state == HOTPState(nextCounter: 0))
  }

  @Test(arguments: StoreKind.allCases)
  func auditHoldsNoCodeAndNoSecret(kind: StoreKind) async throws {
    let f = try Fixture(kind)
    let code = f.code(0)
    _ = try await f.verify(0)
    _ = try await f.verify(text: f.wrongCode())
    let entries = try f.store.auditEntries(user: nil, limit: 100)
    let text = entries.map { "\($0)" }.joined()
    #expect(!text.contains(code))
    #expect(entries.first { $0.reason == "accepted" }?.counterAfter == 1)
  }
}

@Suite struct RetryRoundingTests {
  /// A wait is rounded up to whole seconds, never down to "try again in 0 s".
  @Test func waitsRoundUpToWholeSeconds() {
    let cases: [(Int64?, Int64?)] = [
      (nil, nil), (0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (900_000, 900),
    ]
    for (milliseconds, seconds) in cases {
      let decision = Decision(reason: .throttled, retryAfterMilliseconds: milliseconds)
      #expect(decision.retryAfterSeconds == seconds, "\(String(describing: milliseconds)) ms")
      #expect(DecisionAnswer(decision, user: "alice").retryAfterSeconds == seconds)
    }
  }
}
