import ArgumentParser
import Foundation
import Verifier

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
        otptoken login --user alice --password 's3cret' --code 492039 --client Thunderbird
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The password, or an application password.") var password: String?
  @Flag(help: "Read the password from standard input.") var passwordStdin = false
  @Option(help: "A code from any of the user's factors, or a recovery code.") var code: String?
  @Flag(help: "The application checked the password; run only the second step.") var passwordChecked = false
  @Option(
    help:
      "A client application signing in with the password and a code: print a new application password named after it."
  )
  var client: String?
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
    var issued: (name: String, password: String)?
    if let client, !passwordChecked, case .allowed(let via) = outcome, via != "password",
      !via.hasPrefix("app-password")
    {
      issued = try verifierCall(json: json) { () throws(VerifierError) in
        try accounts.issueClientPassword(user: user, client: client)
      }
    }
    if json {
      var answer: [String: Any] = ["ok": allowed, "result": result, "detail": detail]
      if let issued { answer["appPassword"] = ["name": issued.name, "password": issued.password] }
      Output.json(answer)
    } else if let issued {
      Output.stdout(issued.password)
      Output.stderr("let in (\(detail)); application password \(issued.name) (shown once) is above")
    } else {
      Output.stderr(allowed ? "let in (\(detail))" : "\(result == "refused" ? "refused" : result): \(detail)")
    }
    if !allowed { throw ExitCode(ExitStatus.refused.rawValue) }
  }
}
