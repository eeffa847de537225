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
      A slot holding a credential otptoken did not write is overwritten only after a yes at a
      terminal, or with --force.

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
  @Flag(help: "Overwrite a slot holding a credential otptoken did not write, without asking.") var force =
    false
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
        if session.status.configState.isValid(slot) {
          let serial = try driver(json: json) { () throws(DriverError) in try session.serial() }
          let known = try verifierCall(json: json) { () throws(VerifierError) in
            try engine.knows(serial: String(serial))
          }
          if !known {
            try askBeforeDestroying(
              "Slot \(slot) of token \(serial) holds a credential otptoken did not write; registering overwrites it for good.",
              force: force, json: json)
          }
        }
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
