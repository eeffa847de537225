import ArgumentParser
import Foundation
import Verifier

struct ResyncCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "resync",
    abstract: "Resynchronise a user's hardware token from two consecutive codes.",
    discussion: """
      Searches forward from the stored counter (10,000 presses by default) for the two codes in a row.

      Example:
        otptoken resync --user alice 287082 359152
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The token's serial, if the user has several.") var serial: String?
  @Argument(help: "A code.") var first: String
  @Argument(help: "The code of the next press.") var second: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let engine = try verifier.verifier(json: json)
    let decision = try verifierCall(json: json) { () throws(VerifierError) in
      try engine.resync(user: user, serial: serial, codes: (first, second), source: verifier.source)
    }
    try report(decision, user: user, json: json)
  }
}
