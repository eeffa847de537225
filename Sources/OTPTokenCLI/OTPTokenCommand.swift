import ArgumentParser
import Foundation

/// The `otptoken` command tree. The executable only calls ``runMain()``; tests run the binary.
public struct OTPTokenCommand: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "otptoken",
    abstract: "Two-step login with USB one-time-password tokens.",
    discussion: """
      Exit status: 0 success or accepted, 1 refused, 2 bad usage or input, 3 environment
      (device missing, permission denied, database unreachable). Every command takes --json.
      """,
    subcommands: [
      RegisterCommand.self, VerifyCommand.self, ResyncCommand.self, LoginCommand.self, UserCommand.self,
      TOTPCommand.self, RecoveryCommand.self, AppPasswordCommand.self, PolicyCommand.self, RemoveCommand.self,
      UnlockCommand.self, AuditCommand.self, ServeCommand.self, APIKeyCommand.self, ListenCommand.self,
      EnrollCommand.self, ImportCommand.self,
      AssignCommand.self,
      BenchCommand.self, LoadPrepareCommand.self, SimCommand.self, DevicesCommand.self,
      TokenCommand.self,
      DoctorCommand.self,
    ])

  public init() {}

  /// Parses the arguments, runs the command and exits with the documented status.
  public static func runMain() async {
    do {
      var command = try parseAsRoot()
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
      if exitCode(for: error) == .success {
        print(fullMessage(for: error))
        Foundation.exit(0)
      }
      FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
      Foundation.exit(ExitStatus.usage.rawValue)
    }
  }
}

/// The exit statuses of interfaces.md.
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
enum Output {
  static func stderr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
  }

  static func stdout(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
  }

  /// One Codable value, keys sorted.
  static func json(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    stdout(String(decoding: data, as: UTF8.self))
  }

  static func json(_ object: [String: Any]) {
    let data =
      (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    stdout(String(decoding: data, as: UTF8.self))
  }
}
