import ArgumentParser
import Foundation
import OneTimePassword
import QRCode
import Verifier

struct TOTPCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "totp", abstract: "Phone-app (TOTP) factors: enrol and confirm.",
    subcommands: [TOTPEnroll.self, TOTPConfirm.self])
}

struct TOTPEnroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enroll",
    abstract: "Create a phone-app factor: prints the otpauth URI, the secret to type, and a QR code.",
    discussion: """
      The factor counts only after `otptoken totp confirm` with a current code from the app, which
      also learns how far the phone's clock is off (up to 30 minutes).

      Example:
        otptoken totp enroll --user alice --qr alice.png
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The issuer shown in the app.") var issuer = "otptoken"
  @Option(help: "Also write the QR code to this file (.png or .svg).") var qr: String?
  @Flag(help: "Print one JSON object (field uri).") var json = false

  func run() throws {
    if let qr, !(qr.hasSuffix(".png") || qr.hasSuffix(".svg")) {
      throw CLIFailure(.usage, "--qr must name a .png or .svg file", json: json)
    }
    let accounts = try verifier.accounts(json: json)
    let uri = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.enrollTOTP(user: user, issuer: issuer)
    }
    let code: QRCode
    do { code = try QRCode(text: uri.string) } catch {
      throw CLIFailure(.environment, "\(error)", json: json)
    }
    if let qr {
      let bytes = qr.hasSuffix(".png") ? code.png() : Array(code.svg().utf8)
      // The QR code holds the secret: the file is created owner-only.
      let fd = open(qr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      guard fd >= 0, write(fd, bytes, bytes.count) == bytes.count else {
        if fd >= 0 { close(fd) }
        throw CLIFailure(.environment, "cannot write \(qr)", json: json)
      }
      close(fd)
    }
    if json {
      Output.json(["ok": true, "uri": uri.string, "secret": uri.secret.groupedBase32, "qr": qr ?? ""])
    } else {
      Output.stdout(code.terminal())
      Output.stdout("URI:    \(uri.string)")
      Output.stdout("secret: \(uri.secret.groupedBase32)")
      Output.stderr(
        "Scan the code (or type the secret) in the app, then: otptoken totp confirm --user \(user) CODE")
    }
  }
}

struct TOTPConfirm: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "confirm", abstract: "Activate a pending phone-app factor with a current code.",
    discussion: "Example:\n  otptoken totp confirm --user alice 492039")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Argument(help: "The code the app shows now.") var code: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let decision = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.confirmTOTP(user: user, code: code)
    }
    try report(decision, user: user, json: json)
  }
}

struct RecoveryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "recovery", abstract: "Recovery codes: a new set of 10, or how many are left.",
    subcommands: [RecoveryNew.self, RecoveryCount.self])
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

struct LoginCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "login",
    abstract:
      "Two-step login: the password, then a code (or a recovery code); or an application password alone.",
    discussion: """
      Exit 0 let in, 1 refused (also when a code is still needed, or when the policy requires the
      user to enrol a factor first; --json says which).

      Examples:
        otptoken login --user alice --password 's3cret' --code 492039
        otptoken login --user alice --password abcdefghijklmnop
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The password, or an application password.") var password: String?
  @Flag(help: "Read the password from standard input.") var passwordStdin = false
  @Option(help: "A code from any of the user's factors, or a recovery code.") var code: String?
  @Flag(help: "The application checked the password; run only the second step.") var passwordChecked = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() async throws {
    var secret = password
    if passwordStdin { secret = readLine(strippingNewline: true) }
    guard passwordChecked || secret != nil else {
      throw CLIFailure(.usage, "give --password, --password-stdin or --password-checked", json: json)
    }
    let accounts = try verifier.accounts(json: json)
    let outcome = try await verifierCall(json: json) { () async throws(VerifierError) in
      try await accounts.login(
        user: user, password: secret, code: code, checkPassword: !passwordChecked, source: verifier.source)
    }
    let (result, detail, allowed): (String, String, Bool)
    switch outcome {
    case .allowed(let via): (result, detail, allowed) = ("allowed", via, true)
    case .allowedUntilDeadline(let deadline):
      let date = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(deadline) / 1000))
      (result, detail, allowed) = ("allowed", "enrol a second factor before \(date)", true)
    case .codeRequired:
      (result, detail, allowed) = ("code-required", "a code from a token or phone app is needed", false)
    case .enrollmentRequired:
      (result, detail, allowed) = (
        "enrollment-required", "two-step login is mandatory: enrol a token or phone app first", false
      )
    case .refused(let why): (result, detail, allowed) = ("refused", why, false)
    }
    if json {
      Output.json(["ok": allowed, "result": result, "detail": detail])
    } else {
      Output.stderr(allowed ? "let in (\(detail))" : "\(result == "refused" ? "refused" : result): \(detail)")
    }
    if !allowed { throw ExitCode(ExitStatus.refused.rawValue) }
  }
}

struct PolicyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy",
    abstract: "Make two-step login mandatory, for everyone or a group, with a deadline.",
    subcommands: [PolicySet.self, PolicyShow.self])
}

struct PolicySet: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "set", abstract: "Set who must use two-step login, and from when.",
    discussion: """
      Until the deadline, users without a factor still log in with the password (and are told to
      enrol); afterwards they are sent to enrolment instead.

      Example:
        otptoken policy set --mandatory group:staff --deadline 2027-01-31
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "nobody, everyone, or group:NAME.") var mandatory: String
  @Option(help: "The deadline, YYYY-MM-DD (UTC).") var deadline: String?
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let scope: LoginPolicy.Scope
    switch mandatory {
    case "nobody": scope = .nobody
    case "everyone": scope = .everyone
    case let text where text.hasPrefix("group:") && text.count > 6: scope = .group(String(text.dropFirst(6)))
    default: throw CLIFailure(.usage, "--mandatory is nobody, everyone or group:NAME", json: json)
    }
    var when: Int64?
    if let deadline {
      let formatter = ISO8601DateFormatter()
      formatter.formatOptions = [.withFullDate]
      guard let date = formatter.date(from: deadline) else {
        throw CLIFailure(.usage, "--deadline is a date like 2027-01-31", json: json)
      }
      when = Int64(date.timeIntervalSince1970 * 1000)
    }
    let accounts = try verifier.accounts(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.setPolicy(LoginPolicy(mandatoryFor: scope, deadline: when))
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("policy set") }
  }
}

struct PolicyShow: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show", abstract: "Show the login policy.", discussion: "Example:\n  otptoken policy show")
  @OptionGroup var verifier: VerifierOptions
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let policy = try verifierCall(json: json) { () throws(VerifierError) in try accounts.policy() }
    let scope: String
    switch policy.mandatoryFor {
    case .nobody: scope = "nobody"
    case .everyone: scope = "everyone"
    case .group(let group): scope = "group:\(group)"
    }
    if json {
      Output.json(["ok": true, "mandatory": scope, "deadline": policy.deadline.map { Int($0) } ?? 0])
    } else {
      Output.stdout(
        "mandatory for \(scope)\(policy.deadline.map { ", deadline \(Date(timeIntervalSince1970: Double($0) / 1000))" } ?? "")"
      )
    }
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
