import ArgumentParser
import Foundation

/// The `otptoken` command tree. The executable only calls ``runMain()``; tests run the binary.
public struct OTPTokenCommand: AsyncParsableCommand {
  /// The release this build is, printed by `--version`.
  public static let version = "0.9.0"

  public static let configuration = CommandConfiguration(
    commandName: "otptoken",
    abstract: "Two-step login with USB one-time-password tokens.",
    discussion: """
      Exit status: 0 success or accepted, 1 refused, 2 bad usage or input, 3 environment
      (device missing, permission denied, database unreachable). Every command that prints a
      result takes --json; `serve` and `sim serve` log JSON lines instead.
      """,
    version: version,
    subcommands: [
      RegisterCommand.self, VerifyCommand.self, ResyncCommand.self, LoginCommand.self, UserCommand.self,
      TOTPCommand.self, RecoveryCommand.self, AppPasswordCommand.self, PolicyCommand.self, RemoveCommand.self,
      UnlockCommand.self, AuditCommand.self, ServeCommand.self, APIKeyCommand.self, ListenCommand.self,
      EnrollCommand.self, ImportCommand.self, AssignCommand.self, SimCommand.self, DevicesCommand.self,
      TokenCommand.self, DoctorCommand.self,
    ])

  public init() {}

  /// Parses the arguments, runs the command and exits with the documented status.
  public static func runMain() async { await runMain(root: Self.self) }

  /// ``runMain()`` for any command tree: a mistyped command name gets the nearest one suggested,
  /// and every failure its documented exit status.
  package static func runMain<Root: ParsableCommand>(
    root: Root.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst())
  ) async {
    if let typo = unknownSubcommand(root, arguments) {
      CLIFailure(.usage, typo).report()
      Foundation.exit(ExitStatus.usage.rawValue)
    }
    do {
      var command = try Root.parseAsRoot(arguments)
      if var asyncCommand = command as? AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
      Foundation.exit(0)
    } catch let failure as CLIFailure {
      failure.report()
      Foundation.exit(failure.status.rawValue)
    } catch let code as ExitCode {
      Foundation.exit(code.rawValue)
    } catch {
      if Root.exitCode(for: error) == .success {
        print(Root.fullMessage(for: error))
        Foundation.exit(0)
      }
      FileHandle.standardError.write(Data((Root.fullMessage(for: error) + "\n").utf8))
      Foundation.exit(ExitStatus.usage.rawValue)
    }
  }

  /// What to say when a word where a command name belongs names no command: the nearest names by
  /// edit distance, so `otptoken verfy` suggests `verify` instead of complaining about its options.
  static func unknownSubcommand(_ root: any ParsableCommand.Type, _ arguments: [String]) -> String? {
    var command = names(of: root)
    var path = [command.name]
    for word in arguments {
      guard !command.children.isEmpty, !word.hasPrefix("-"), word != "help" else { return nil }
      let children = command.children.map { names(of: $0) }
      if let child = children.first(where: { $0.name == word || $0.aliases.contains(word) }) {
        command = child
        path.append(word)
        continue
      }
      let scored = children.map { (name: $0.name, distance: editDistance($0.name, word)) }
      let best = scored.map { $0.distance }.min() ?? .max
      let near = scored.filter { $0.distance == best && best <= max(2, word.count / 3) }.map(\.name)
      let suggestions = near.isEmpty ? children.map { $0.name }.filter { $0.hasPrefix(word) } : near
      let hint =
        suggestions.isEmpty
        ? "see '\(path.joined(separator: " ")) --help'"
        : "did you mean " + suggestions.map { "'\($0)'" }.joined(separator: " or ") + "?"
      return "'\(word)' is not a command of \(path.joined(separator: " ")); \(hint)"
    }
    return nil
  }

  /// A command's name, aliases and subcommands.
  static func names<Command: ParsableCommand>(of command: Command.Type) -> (
    name: String, aliases: [String], children: [any ParsableCommand.Type]
  ) {
    (command._commandName, command.configuration.aliases, command.configuration.subcommands)
  }

  /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
  /// neighbours each cost one.
  static func editDistance(_ a: String, _ b: String) -> Int {
    let (a, b) = (Array(a), Array(b))
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { table[i][0] = i }
    for j in 0...b.count { table[0][j] = j }
    for i in 1...a.count {
      for j in 1...b.count {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
          table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
        }
      }
    }
    return table[a.count][b.count]
  }
}

/// The exit statuses every command uses.
public enum ExitStatus: Int32, Sendable {
  case success = 0
  case refused = 1
  case usage = 2
  case environment = 3
}

/// A failure that ends a command with a message for people and a documented status.
public struct CLIFailure: Error {
  public var status: ExitStatus
  public var message: String
  public var json: Bool

  public init(_ status: ExitStatus, _ message: String, json: Bool = false) {
    self.status = status
    self.message = message
    self.json = json
  }

  func report() {
    if json {
      Output.json(["ok": false, "error": message, "status": Int(status.rawValue)])
    }
    Output.stderr("otptoken: " + message)
  }
}

/// Where output goes: one JSON object on stdout, messages for people on stderr.
package enum Output {
  package static func stderr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
  }

  package static func stdout(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
  }

  /// One Codable value, keys sorted.
  package static func json(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    stdout(String(decoding: data, as: UTF8.self))
  }

  package static func json(_ object: [String: Any]) {
    let data =
      (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    stdout(String(decoding: data, as: UTF8.self))
  }
}
