import ArgumentParser
import Foundation
import Verifier

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
