import ArgumentParser
import Foundation
import Verifier

struct AppPasswordCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "app-password", abstract: "Application passwords for clients that cannot ask for a code.",
    subcommands: [AppPasswordAdd.self, AppPasswordRevoke.self, AppPasswordList.self])
}

struct AppPasswordAdd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add", abstract: "Create an application password (16 letters, shown once).",
    discussion: "Example:\n  otptoken app-password add --user alice --name mail")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "What it is for (mail, calendar, …).") var name: String
  @Flag(help: "Print one JSON object (field password).") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let password = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.addAppPassword(user: user, label: name)
    }
    if json {
      Output.json(["ok": true, "password": password, "name": name])
    } else {
      Output.stdout(password)
      Output.stderr("Use it in place of the password (and code) in \(name); it is not shown again.")
    }
  }
}

struct AppPasswordRevoke: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "revoke", abstract: "Revoke an application password.",
    discussion: "Example:\n  otptoken app-password revoke --user alice --name mail")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "Its name.") var name: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.revokeAppPassword(user: user, label: name)
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("revoked \(name)") }
  }
}

struct AppPasswordList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List a user's application passwords and their last use.",
    discussion: "Example:\n  otptoken app-password list --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let list = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.appPasswords(user: user)
    }
    let rows = list.map {
      ["name": $0.name, "created": Int($0.createdAt), "lastUsed": $0.lastUsedAt.map { Int($0) } ?? 0]
    }
    if json {
      Output.json(["ok": true, "appPasswords": rows])
    } else {
      for item in list {
        Output.stdout("\(item.name)\t\(item.lastUsedAt.map { "last used \($0)" } ?? "never used")")
      }
    }
  }
}
