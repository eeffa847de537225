import Foundation
import OTPWire
import Synchronization
import TestScratch
import Testing
import TokenDriver
import TokenSimulator
import TokenTransport
import Verifier

@testable import Enrollment

/// Batch enrolment against simulated tokens in this process: what the person at the desk is told,
/// and which tokens are programmed.
@Suite struct BatchEnrollmentTests {
  final class Desk: Sendable {
    let store = MemoryStore()
    let verifier: HOTPVerifier
    let report: EnrollmentReport
    let events = Mutex<[BatchEnrollment.Event]>([])

    init(users: [String]) throws {
      verifier = try HOTPVerifier(store: store, keys: .generate())
      for user in users {
        _ = try store.createUser(
          name: user,
          audit: AuditEntry(at: 0, user: user, factor: nil, action: "user-add", result: "done", reason: ""))
      }
      report = EnrollmentReport(csvPath: scratchDirectory("enrol") + "/report.csv")
    }

    /// Runs the batch over the tokens already plugged in; each token is pressed when asked.
    func run(_ users: [String], tokens: [SimulatedToken], overwrite: Bool = false) async throws {
      let batch = BatchEnrollment(
        registration: TokenRegistration(verifier: verifier, pressTimeout: .seconds(5)),
        discovery: TokenDiscovery(backends: [InProcessBackend(tokens: tokens)]), report: report)
      let (stream, continuation) = AsyncStream<USBEvent>.makeStream()
      continuation.finish()
      try await batch.run(users: users, events: stream, overwrite: overwrite) { event in
        self.events.withLock { $0.append(event) }
        if case .waitingForPress(_, let serial) = event {
          _ = tokens.first { String($0.serial) == serial }?.press(.two)
        }
      }
    }

    func serials(of user: String) throws -> [String] {
      try store.hotpFactors(userID: store.user(named: user)!.id).filter(\.active).map(\.serial)
    }
  }

  static let foreignKey = HOTPSlotSettings(key: Array("12345678901234567890".utf8))

  @Test func aForeignCredentialIsSkippedAndTheNextTokenEnrolled() async throws {
    let desk = try Desk(users: ["carol"])
    let foreign = try SimulatedToken.programmed(serial: 111, settings: Self.foreignKey)
    let fresh = try SimulatedToken(serial: 222)
    try await desk.run(["carol"], tokens: [foreign, fresh])
    #expect(try desk.serials(of: "carol") == ["222"])
    #expect(foreign.pressAndRead() == "755224\r")  // its credential is untouched
    let events = desk.events.withLock { $0 }
    guard case .waitingForToken("carol", 1, 1) = events.first else {
      Issue.record("first event \(String(describing: events.first))")
      return
    }
    #expect(
      events.contains {
        if case .skipped("111", let detail) = $0 { detail.contains("--force") } else { false }
      })
    #expect(events.contains { if case .waitingForPress("carol", "222") = $0 { true } else { false } })
    #expect(events.contains { if case .enrolled("carol", "222", 1, 1) = $0 { true } else { false } })
  }

  @Test func withOverwriteTheForeignCredentialIsReplaced() async throws {
    let desk = try Desk(users: ["carol", "dan"])
    let foreign = try SimulatedToken.programmed(serial: 111, settings: Self.foreignKey)
    try await desk.run(["carol", "dan"], tokens: [foreign], overwrite: true)
    #expect(try desk.serials(of: "carol") == ["111"])
    #expect(foreign.pressAndRead() != "755224\r")
    let events = desk.events.withLock { $0 }
    #expect(events.contains { if case .waitingForToken("dan", 2, 2) = $0 { true } else { false } })
    #expect(events.contains { if case .finished(1, 1) = $0 { true } else { false } })
  }
}
