import ArgumentParser
import Enrollment
import Foundation
import HIDAPITransport
import OTPWire
import TokenTransport
import Verifier

struct EnrollCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enroll",
    abstract:
      "Batch enrolment: program and assign tokens plugged in one after another to the users of a list.",
    discussion: """
      For each user of --users (a CSV file whose first column is the user name), in order: plug in a
      token, it is programmed with a fresh secret and assigned to that user, a press confirms it
      (the command says when, and counts "[3/10]" through the list), and the outcome is written to --report (a CSV journal, synced line by line) before the next
      token. Interrupted runs resume from the report: users done are skipped, and a token already
      enrolled is never programmed again.

      Example:
        otptoken enroll --users staff.csv --report enrolment.csv --json-report enrolment.json
      """)
  @OptionGroup var verifier: VerifierOptions
  @OptionGroup var devices: DeviceOptions
  @Option(help: "CSV file of users, one per line (first column).") var users: String
  @Option(help: "The report journal (CSV), created or resumed.") var report: String
  @Option(help: "Also keep the report as a JSON document here.") var jsonReport: String?
  @Flag(help: "Create users of the list that do not exist yet.") var createUsers = false
  @Option(help: "Slot to program: 2 (default) or 1.") var slot = 2
  @Option(help: "Digits: 6 or 8.") var digits = 6
  @Option(help: "Seconds to wait for each confirming press.") var timeout = 60
  @Option(help: "Seconds between scans where there are no hot-plug events (simulated tokens).") var poll = 1.0
  @Flag(
    help: "Overwrite a slot holding a credential otptoken did not write (otherwise the token is skipped).")
  var force = false
  @Flag(help: "Print one JSON object per event.") var json = false

  func run() async throws {
    guard let text = try? String(contentsOfFile: users, encoding: .utf8) else {
      throw CLIFailure(.usage, "cannot read the users file \(users)", json: json)
    }
    var names: [String] = []
    for (line, name) in enrollmentUsers(from: text).enumerated() {
      do { names.append(try UserName.checked(name)) } catch {
        throw CLIFailure(.usage, "\(users), user \(line + 1): \(error)", json: json)
      }
    }
    guard !names.isEmpty else { throw CLIFailure(.usage, "\(users) lists no user", json: json) }
    guard let slot = Slot(rawValue: slot) else {
      throw CLIFailure(.usage, "--slot must be 1 or 2", json: json)
    }
    guard poll > 0 else { throw CLIFailure(.usage, "--poll must be positive", json: json) }
    let engine = try verifier.verifier(json: json)
    let (store, _) = try verifier.open(json: json)
    for name in names where (try? store.user(named: name)) == nil {
      guard createUsers else {
        throw CLIFailure(
          .refused, "user \(name) does not exist: create it, or pass --create-users", json: json)
      }
      let audit = AuditEntry(
        at: SystemClock().nowMilliseconds(), user: name, factor: nil, action: "user-add", result: "done",
        reason: "created by enroll")
      do { _ = try store.createUser(name: name, audit: audit) } catch {
        throw CLIFailure(.environment, "\(error)", json: json)
      }
    }
    let batch = BatchEnrollment(
      registration: TokenRegistration(
        verifier: engine, slot: slot, digits: digits, pressTimeout: .seconds(timeout)),
      discovery: try devices.discovery(json: json),
      report: EnrollmentReport(csvPath: report, jsonPath: jsonReport))
    var events = PollingEvents.every(.milliseconds(Int(poll * 1000)))
    if devices.socket.isEmpty && devices.socketDir == nil && !devices.noHidapi,
      let hotplug = try? LibUSBHotplug.events()
    {
      events = hotplug
    }
    let json = self.json
    do {
      let press = slot == .two ? "hold its button for 3 to 5 seconds" : "touch its button"
      try await batch.run(users: names, events: events, overwrite: force) { event in
        switch event {
        case .waitingForToken(let user, let position, let total):
          json
            ? Output.json(["event": "waiting", "user": user, "position": position, "total": total])
            : Output.stderr("[\(position)/\(total)] plug in a token for \(user)…")
        case .waitingForPress(let user, let serial):
          json
            ? Output.json(["event": "press", "user": user, "serial": serial])
            : Output.stderr("token \(serial) programmed for \(user): \(press) now to confirm…")
        case .skipped(let serial, let detail):
          json
            ? Output.json(["event": "skipped", "serial": serial, "detail": detail])
            : Output.stderr("token \(serial): \(detail)")
        case .enrolled(let user, let serial, let position, let total):
          json
            ? Output.json([
              "event": "enrolled", "user": user, "serial": serial, "position": position, "total": total,
            ])
            : Output.stderr("[\(position)/\(total)] token \(serial) enrolled for \(user); unplug it")
        case .failed(let user, let serial, let detail):
          json
            ? Output.json(["event": "failed", "user": user, "serial": serial ?? "", "detail": detail])
            : Output.stderr(
              "token \(serial ?? "?") for \(user) failed: \(detail); plug it in again or use another")
        case .finished(let enrolled, let remaining):
          json
            ? Output.json(["event": "finished", "enrolled": enrolled, "remaining": remaining])
            : Output.stderr("done: \(enrolled) tokens enrolled in this run, \(remaining) users left")
        }
      }
    } catch {
      throw CLIFailure(.environment, "the report \(report) cannot be read or written: \(error)", json: json)
    }
  }
}
