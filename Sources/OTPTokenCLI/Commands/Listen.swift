import ArgumentParser
import Foundation
import TokenDriver
import Verifier

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
