import Testing
import Verifier

@testable import VerifierPostgres

/// The remembered reads stay within their capacity however many users verify.
@Suite struct RecentReadsTests {
  static func snapshot(_ index: Int) -> VerificationSnapshot {
    VerificationSnapshot(user: UserRecord(id: Int64(index), name: "user\(index)"))
  }

  /// Whether a read of the user is remembered: a job is planned from it, without the store.
  static func remembers(_ reads: RecentReads, _ index: Int) throws -> Bool {
    let job = VerificationJob(userName: "user\(index)", reads: .tokens) { snapshot in
      VerificationPlan(decision: Decision(reason: .noFactor), writes: [])
    }
    return try reads.plan(job) != nil
  }

  @Test func aFullMemoryStartsOverForANewUserOnly() throws {
    let reads = RecentReads(capacity: 4)
    for index in 0..<4 { reads.remember(Self.snapshot(index), parts: .tokens) }
    #expect(try (0..<4).allSatisfy { try Self.remembers(reads, $0) })

    // A user already remembered is read again: nothing else is dropped.
    reads.remember(Self.snapshot(2), parts: .tokens)
    #expect(try (0..<4).allSatisfy { try Self.remembers(reads, $0) })

    // A fifth user: the memory starts over with that one alone.
    reads.remember(Self.snapshot(4), parts: .tokens)
    #expect(try Self.remembers(reads, 4))
    #expect(try (0..<4).allSatisfy { try !Self.remembers(reads, $0) })
  }

  @Test func aReadOfOtherPartsDoesNotServeAJob() throws {
    let reads = RecentReads(capacity: 4)
    reads.remember(Self.snapshot(1), parts: .recoveryCodes)
    #expect(try !Self.remembers(reads, 1))
  }
}
