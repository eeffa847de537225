import Foundation

/// Asks before a step that destroys what a token holds. With `--force` the answer is yes; at a
/// terminal it is the person's; otherwise (a script, `--json`, input from a pipe) the command stops
/// with a usage error naming `--force`, so nothing is destroyed by a command nobody watched. A
/// declined question ends the command with status 1 and changes nothing.
func askBeforeDestroying(_ question: String, force: Bool, json: Bool) throws {
  if force { return }
  guard !json, isatty(STDIN_FILENO) == 1 else {
    throw CLIFailure(
      .usage, "\(question) Not asked without a terminal: pass --force to go ahead.", json: json)
  }
  FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
  let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
  guard answer == "y" || answer == "yes" else { throw CLIFailure(.refused, "nothing changed", json: json) }
}
