import ArgumentParser
import Foundation
import Verifier

struct RecoveryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "recovery", abstract: "Recovery codes: a new set of 10, how many are left, or revoke them.",
    subcommands: [RecoveryNew.self, RecoveryCount.self, RecoveryRevoke.self])
}

struct RecoveryNew: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "new",
    abstract: "Print a fresh set of 10 recovery codes (shown once; the old set stops working).",
    discussion: "Example:\n  otptoken recovery new --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object (field codes).") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let codes = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.newRecoveryCodes(user: user)
    }
    if json {
      Output.json(["ok": true, "codes": codes])
    } else {
      for code in codes { Output.stdout(code) }
      Output.stderr("Keep these somewhere safe: each works once, and they are not shown again.")
    }
  }
}

struct RecoveryCount: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "count", abstract: "How many recovery codes a user has left.",
    discussion: "Example:\n  otptoken recovery count --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let left = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.remainingRecoveryCodes(user: user)
    }
    if json { Output.json(["ok": true, "remaining": left]) } else { Output.stdout("\(left)") }
  }
}

struct RecoveryRevoke: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "revoke", abstract: "Revoke every recovery code of a user.",
    discussion: "Example:\n  otptoken recovery revoke --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.revokeRecoveryCodes(user: user, source: verifier.source)
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("recovery codes of \(user) revoked") }
  }
}
