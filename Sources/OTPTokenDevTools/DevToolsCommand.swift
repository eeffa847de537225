import ArgumentParser
import OTPTokenCLI

/// `otptoken-dev`: tools for the project's developers (benchmarks, load preparation), kept apart
/// from the commands people use. The executable only calls ``main()``.
public struct DevToolsCommand: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "otptoken-dev",
    abstract: "Developer tools of otptoken: benchmarks and load preparation.",
    discussion: "Exit status: 0 success, 2 bad usage, 3 environment.",
    version: OTPTokenCommand.version,
    subcommands: [BenchCommand.self, LoadPrepareCommand.self])

  public init() {}

  /// Parses the arguments, runs the tool and exits with the documented status.
  public static func runMain() async { await OTPTokenCommand.runMain(root: Self.self) }
}
