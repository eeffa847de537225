import ArgumentParser
import Foundation
import Verifier

struct AssignCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "assign",
    abstract: "Give an imported token to a user who proves it with two consecutive codes.",
    discussion: """
      Example:
        otptoken assign --user alice --serial 987654321 755224 287082
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The token's serial.") var serial: String
  @Argument(help: "A code.") var first: String
  @Argument(help: "The code of the next press.") var second: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let engine = try verifier.verifier(json: json)
    let decision = try verifierCall(json: json) { () throws(VerifierError) in
      try engine.assign(serial: serial, to: user, codes: (first, second), source: verifier.source)
    }
    try report(decision, user: user, json: json)
  }
}
