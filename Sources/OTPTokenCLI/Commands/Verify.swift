import ArgumentParser
import Foundation
import Verifier

struct VerifyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Decide one code for a user (any of the user's factors). Exit 0 accepted, 1 refused.",
    discussion: """
      A one-time code of any of the user's tokens and phone apps (spaces and dashes are ignored),
      or a recovery code (xxxx-xxxx). Each code is accepted at most once, by any number of
      processes sharing the database.

      Examples:
        otptoken verify --user alice 755224
        otptoken verify --user alice '755 224'
        otptoken verify --user alice k7mq-3xpa
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Argument(help: "The code: 6 to 8 digits, or a recovery code.") var code: String?
  @Flag(help: "Read codes from standard input, one per line; print one JSON decision per line.")
  var stdin = false
  @Flag(help: "Print one JSON object.") var json = false

  func validate() throws {
    guard (code == nil) == stdin else { throw ValidationError("give either a CODE or --stdin") }
  }

  func run() async throws {
    let accounts = try verifier.accounts(json: json || stdin)
    guard let code else { return try await stream(accounts) }
    let decision = try await verifierCall(json: json) { () async throws(VerifierError) in
      try await accounts.verify(user: user, code: code, source: verifier.source)
    }
    try report(decision, user: user, json: json)
  }

  /// One decision per input line, each flushed before the next line is read.
  func stream(_ engine: Accounts) async throws {
    while let line = readLine(strippingNewline: true) {
      do {
        Output.json(
          DecisionAnswer(try await engine.verify(user: user, code: line, source: verifier.source), user: user)
        )
      } catch {
        Output.json(["user": user, "result": "error", "reason": error.description])
        if case .store = error { throw ExitCode(ExitStatus.environment.rawValue) }
      }
    }
  }
}
