import ArgumentParser
import Foundation
import Verifier

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
