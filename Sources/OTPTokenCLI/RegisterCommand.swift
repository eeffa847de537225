import ArgumentParser
import Enrollment
import Foundation
import OTPWire
import TokenDriver
import Verifier

struct RegisterCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "register",
    abstract: "Register a hardware token to a user: program a fresh secret, then confirm with a press.",
    discussion: """
      Finds the token (through hidapi, or a simulated one with --socket), programs a fresh random
      secret into slot 2 (slot 1's factory credential survives), stores it for the user, and waits
      for the button: the token counts only once that press verifies. If anything fails nothing
      counts; run the command again (it reprograms), or confirm a pending registration with --confirm.

      Examples:
        otptoken register --user alice
        otptoken register --user alice --socket /tmp/token.sock --digits 8
        otptoken register --user alice --serial 12345678 --confirm 755224
      """)
  @OptionGroup var verifier: VerifierOptions
  @OptionGroup var selection: TokenSelection
  @Option(help: "The user the token is for.") var user: String
  @Option(help: "The slot to program: 2 (long press, default) or 1 (short press).") var slot = 2
  @Option(help: "Digits the token types: 6 or 8.") var digits = 6
  @Option(help: "Use this code instead of waiting for a press.") var code: String?
  @Option(help: "Confirm a pending registration with this code; programs nothing.") var confirm: String?
  @Option(help: "Seconds to wait for the press.") var timeout = 60
  @Flag(help: "Program the token again although it is registered to this user.") var replace = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let slot = Slot(rawValue: slot) else {
      throw CLIFailure(.usage, "--slot must be 1 or 2", json: json)
    }
    guard digits == 6 || digits == 8 else { throw CLIFailure(.usage, "--digits must be 6 or 8", json: json) }
    let engine = try verifier.verifier(json: json)
    let registration = TokenRegistration(
      verifier: engine, slot: slot, digits: digits, pressTimeout: .seconds(timeout))
    let outcome: TokenRegistration.Outcome
    do {
      if let confirm {
        let serial: String
        if let known = selection.serial {
          serial = String(known)
        } else {
          let session = try selection.session(json: json)
          defer { session.device.close() }
          serial = String(try driver(json: json) { () throws(DriverError) in try session.serial() })
        }
        outcome = try registration.confirm(serial: serial, user: user, code: confirm, source: verifier.source)
      } else {
        let session = try selection.session(json: json)
        defer { session.device.close() }
        outcome = try registration.register(
          user: user, session: session, replace: replace, code: code, source: verifier.source
        ) { step in
          guard !json else { return }
          switch step {
          case .found(let serial): Output.stderr("token \(serial) found")
          case .programmed(let serial):
            Output.stderr("token \(serial): slot \(slot) programmed with a fresh secret")
          case .waitingForPress:
            Output.stderr(
              "press the token's button to confirm (\(slot == .two ? "a long press, 3-5 s" : "a short press"))…"
            )
          case .pressed: break
          }
        }
      }
    } catch let error as RegistrationError {
      switch error {
      case .refused, .notConfirmed: throw CLIFailure(.refused, error.description, json: json)
      case .token(let inner):
        throw CLIFailure(inner.isEnvironmental ? .environment : .refused, error.description, json: json)
      case .verifier(let inner):
        if case .invalidInput = inner { throw CLIFailure(.usage, inner.description, json: json) }
        throw CLIFailure(.environment, error.description, json: json)
      }
    }
    if json {
      Output.json(["ok": true, "user": outcome.user, "serial": outcome.serial, "result": "registered"])
    } else {
      Output.stderr("registered token \(outcome.serial) to \(outcome.user)")
    }
  }
}

struct RemoveCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "remove", abstract: "Remove a token from a user.",
    discussion: "Example:\n  otptoken remove --user alice --serial 12345678")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The token's serial.") var serial: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let engine = try verifier.verifier(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try engine.remove(serial: serial, user: user, source: verifier.source)
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("removed token \(serial) from \(user)") }
  }
}

struct UnlockCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "unlock",
    abstract:
      "Clear every failure count, delay and lock of a user: tokens, phone apps, passwords, recovery codes.",
    discussion: "Each clearing is recorded in the audit log.\n\nExample:\n  otptoken unlock --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() async throws {
    let accounts = try verifier.accounts(json: json)
    try await verifierCall(json: json) { () async throws(VerifierError) in
      try await accounts.unlock(user: user, source: verifier.source)
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("unlocked \(user)") }
  }
}

struct AuditCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit", abstract: "Read the audit log, newest first (no secrets, no codes in it).",
    discussion: "Example:\n  otptoken audit --user alice --limit 20")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "Only this user's entries.") var user: String?
  @Option(help: "How many entries.") var limit = 50
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard (1...100_000).contains(limit) else {
      throw CLIFailure(.usage, "--limit must be 1 to 100000", json: json)
    }
    let (store, _) = try verifier.open(json: json)
    let entries: [AuditEntry]
    do { entries = try store.auditEntries(user: user, limit: limit) } catch {
      throw CLIFailure(.environment, error.description, json: json)
    }
    let formatter = ISO8601DateFormatter()
    let rows = entries.map { entry -> [String: Any] in
      var row: [String: Any] = [
        "at": formatter.string(from: Date(timeIntervalSince1970: Double(entry.at) / 1000)),
        "action": entry.action,
        "result": entry.result, "reason": entry.reason,
      ]
      if let user = entry.user { row["user"] = user }
      if let factor = entry.factor { row["factor"] = factor }
      if let before = entry.counterBefore { row["counterBefore"] = Int(before) }
      if let after = entry.counterAfter { row["counterAfter"] = Int(after) }
      if let source = entry.source { row["source"] = source }
      return row
    }
    if json {
      Output.json(["ok": true, "entries": rows])
    } else {
      for row in rows {
        let counters = row["counterAfter"].map { " counter→\($0)" } ?? ""
        Output.stdout(
          "\(row["at"]!)\t\(row["user"] ?? "-")\t\(row["factor"] ?? "-")\t\(row["action"]!)\t\(row["result"]!)\t\(row["reason"]!)\(counters)"
        )
      }
    }
  }
}

struct ListenCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "listen",
    abstract: "Read presses from a token and verify each as it comes (a kiosk or registration desk).",
    discussion: """
      Each press is verified for the user the token is registered to (or --user). One line per
      press; with --json one JSON object per line. Stops after --count presses, or on SIGINT.

      Example:
        otptoken listen --socket /tmp/token.sock
      """)
  @OptionGroup var verifier: VerifierOptions
  @OptionGroup var selection: TokenSelection
  @Option(help: "Verify for this user instead of the token's owner.") var user: String?
  @Option(help: "Stop after this many presses (0: never).") var count = 0
  @Flag(help: "Print one JSON object per press.") var json = false

  func run() async throws {
    let accounts = try verifier.accounts(json: json)
    let engine = accounts.hotp
    let session = try selection.session(json: json)
    defer { session.device.close() }
    let serial = String(try driver(json: json) { () throws(DriverError) in try session.serial() })
    guard
      let owner = try user
        ?? verifierCall(json: json, { () throws(VerifierError) in try engine.owner(ofSerial: serial) })
    else {
      throw CLIFailure(
        .refused, "token \(serial) is registered to no one: pass --user or register it", json: json)
    }
    if !json { Output.stderr("listening to token \(serial) for \(owner); press its button…") }
    var seen = 0
    while count == 0 || seen < count {
      let reading: TokenSession.PressReading
      do { reading = try session.waitForPress(timeout: .seconds(3600)) } catch {
        if case .noPress = error { continue }
        throw CLIFailure(error.isEnvironmental ? .environment : .refused, error.description, json: json)
      }
      seen += 1
      let decision = try await verifierCall(json: json) { () async throws(VerifierError) in
        try await accounts.verify(user: owner, code: reading.code.text, source: verifier.source ?? "listen")
      }
      if json {
        Output.json(DecisionAnswer(decision, user: owner))
      } else {
        Output.stdout(
          "\(owner)\t\(decision.isAccepted ? "accepted" : "refused")\t\(decision.reason.rawValue)")
      }
    }
  }
}
