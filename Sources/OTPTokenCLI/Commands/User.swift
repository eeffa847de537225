import ArgumentParser
import Foundation
import Verifier

struct UserCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "user",
    abstract: "Add, list and delete users, set passwords and groups, turn two-step login off.",
    subcommands: [
      UserAdd.self, UserList.self, UserPassword.self, UserGroups.self, UserSecondFactorOff.self,
      UserDelete.self,
    ])
}

struct UserAdd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add", abstract: "Create a user, optionally with an account password.",
    discussion: "Example:\n  echo 's3cret' | otptoken user add --user alice --password-stdin")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user's name.") var user: String
  @Flag(help: "Read the account password from standard input (the verifier then runs the whole login).")
  var passwordStdin = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    var password: String?
    if passwordStdin {
      guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw CLIFailure(.usage, "no password on standard input", json: json)
      }
      password = line
    }
    let accounts = try verifier.accounts(json: json)
    do { try accounts.createUser(name: user, password: password, source: verifier.source) } catch {
      switch error {
      case .conflict(let why): throw CLIFailure(.refused, why, json: json)
      case .invalidInput(let why): throw CLIFailure(.usage, why, json: json)
      default: throw CLIFailure(.environment, error.description, json: json)
      }
    }
    if json { Output.json(["ok": true, "user": user]) } else { Output.stderr("created user \(user)") }
  }
}

struct UserList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List users and every factor they have: tokens, phone apps, codes, passwords.",
    discussion: "Example:\n  otptoken user list --json")
  @OptionGroup var verifier: VerifierOptions
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let (store, _) = try verifier.open(json: json)
    var users: [[String: Any]] = []
    do {
      for user in try store.users() {
        let tokens = try store.hotpFactors(userID: user.id).map { factor -> [String: Any] in
          [
            "serial": factor.serial, "digits": factor.digits, "failures": factor.state.failures,
            "state": Self.state(
              active: factor.active, locked: factor.state.hardLocked,
              throttled: factor.state.throttledUntil != nil),
          ]
        }
        let phoneApps = try store.totpFactors(userID: user.id).map { factor -> [String: Any] in
          [
            "id": factor.id, "failures": factor.state.failures,
            "state": Self.state(
              active: factor.state.active, locked: factor.state.hardLocked,
              throttled: factor.state.throttledUntil != nil),
          ]
        }
        users.append([
          "user": user.name, "tokens": tokens, "phoneApps": phoneApps,
          "recoveryCodesLeft": try store.remainingRecoveryCodes(userID: user.id),
          "appPasswords": try store.appPasswords(userID: user.id).map(\.name),
          "password": try store.account(userID: user.id).passwordHash != nil,
        ])
      }
    } catch { throw CLIFailure(.environment, error.description, json: json) }
    if json {
      Output.json(["ok": true, "users": users])
    } else {
      for user in users { Output.stdout("\(user["user"]!)\t\(Self.line(user))") }
    }
  }

  static func state(active: Bool, locked: Bool, throttled: Bool) -> String {
    locked ? "locked" : throttled ? "throttled" : active ? "active" : "unconfirmed"
  }

  /// Every factor of a user on one line: "hotp:123 (active), phone app (active), 7 recovery codes".
  static func line(_ user: [String: Any]) -> String {
    var parts = (user["tokens"] as! [[String: Any]]).map { "hotp:\($0["serial"]!) (\($0["state"]!))" }
    parts += (user["phoneApps"] as! [[String: Any]]).map { "phone app \($0["id"]!) (\($0["state"]!))" }
    let codes = user["recoveryCodesLeft"] as! Int
    if codes > 0 { parts.append(codes == 1 ? "1 recovery code" : "\(codes) recovery codes") }
    let apps = user["appPasswords"] as! [String]
    if !apps.isEmpty { parts.append(apps.count == 1 ? "1 app password" : "\(apps.count) app passwords") }
    if user["password"] as! Bool { parts.append("password") }
    return parts.isEmpty ? "no factor" : parts.joined(separator: ", ")
  }
}

struct UserGroups: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "groups", abstract: "Set the groups a user belongs to (for group policies).",
    discussion: "Example:\n  otptoken user groups --user alice --groups staff,admins")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "Comma-separated group names (empty for none).") var groups: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let list = groups.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
      !$0.isEmpty
    }
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.setGroups(user: user, groups: list)
    }
    if json {
      Output.json(["ok": true, "groups": list])
    } else {
      Output.stderr("groups of \(user): \(list.joined(separator: ", "))")
    }
  }
}

struct UserSecondFactorOff: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "second-factor-off",
    abstract: "Turn two-step login off for a user for N days; it comes back by itself.",
    discussion: "Example:\n  otptoken user second-factor-off --user alice --days 3")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "Days (0 turns it back on now).") var days: Int
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.disableSecondFactor(user: user, days: days)
    }
    if json {
      Output.json(["ok": true])
    } else {
      Output.stderr("two-step login off for \(user) for \(days) days")
    }
  }
}

struct UserPassword: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "password",
    abstract: "Set a user's account password (read from standard input); their browser sessions end.",
    discussion: "Example:\n  echo 'n3w-s3cret' | otptoken user password --user alice")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
      throw CLIFailure(.usage, "no password on standard input", json: json)
    }
    let accounts = try verifier.accounts(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.setPassword(user: user, password: line, source: verifier.source)
    }
    if json { Output.json(["ok": true, "user": user]) } else { Output.stderr("password of \(user) set") }
  }
}

struct UserDelete: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete",
    abstract: "Delete a user and everything of theirs; their hardware tokens return to the inventory.",
    discussion: """
      Phone apps, recovery codes, application passwords and browser sessions go with the user. Their
      hardware tokens stay in the store unassigned: give one to someone else with `otptoken assign`
      and two consecutive codes. The audit log keeps the user's history.

      Example:
        otptoken user delete --user alice --force
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Flag(help: "Do not ask before deleting.") var force = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    try askBeforeDestroying("Delete \(user) and all their factors?", force: force, json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.deleteUser(name: user, source: verifier.source)
    }
    if json { Output.json(["ok": true, "user": user]) } else { Output.stderr("deleted user \(user)") }
  }
}
