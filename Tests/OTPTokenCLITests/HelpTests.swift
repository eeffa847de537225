import Foundation
import Testing

@Suite struct HelpTests {
  /// Every command without subcommands, from the command tree the binary describes.
  func leafCommands() throws -> [[String]] {
    let dump = try Binary(runtimeDirectory: temporaryDirectory()).run(["--experimental-dump-help"])
    let root = try #require(dump.json?["command"] as? [String: Any])
    var leaves: [[String]] = []
    func walk(_ command: [String: Any], _ path: [String]) {
      let subcommands = (command["subcommands"] as? [[String: Any]] ?? []).filter {
        $0["commandName"] as? String != "help"
      }
      if subcommands.isEmpty { leaves.append(path) }
      for sub in subcommands { walk(sub, path + [sub["commandName"] as! String]) }
    }
    walk(root, [])
    return leaves
  }

  @Test func everyCommandExplainsItselfWithAnExample() throws {
    let binary = Binary(runtimeDirectory: temporaryDirectory())
    let leaves = try leafCommands()
    #expect(leaves.count >= 20)
    for path in leaves {
      let help = try binary.run(path + ["--help"])
      #expect(help.status == 0, "\(path)")
      #expect(
        help.stdout.contains("Example"), "`otptoken \(path.joined(separator: " ")) --help` has no example")
      #expect(help.stdout.contains("OVERVIEW:"), "\(path)")
    }
  }
}
