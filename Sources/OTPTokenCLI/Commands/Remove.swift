import ArgumentParser
import Foundation
import Verifier

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
