import ArgumentParser
import Foundation
import Verifier

struct AuditCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit", abstract: "Read the audit log, newest first (no secrets, no codes in it).",
    discussion: "Example:\n  otptoken audit --user alice --limit 20")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "Only this user's entries.") var user: String?
  @Option(help: "How many entries.") var limit = 50
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard (1...100_000).contains(limit) else {
      throw CLIFailure(.usage, "--limit must be 1 to 100000", json: json)
    }
    let (store, _) = try verifier.open(json: json)
    let entries: [AuditEntry]
    do { entries = try store.auditEntries(user: user, limit: limit) } catch {
      throw CLIFailure(.environment, error.description, json: json)
    }
    let formatter = ISO8601DateFormatter()
    let rows = entries.map { entry -> [String: Any] in
      var row: [String: Any] = [
        "at": formatter.string(from: Date(timeIntervalSince1970: Double(entry.at) / 1000)),
        "action": entry.action,
        "result": entry.result, "reason": entry.reason,
      ]
      if let user = entry.user { row["user"] = user }
      if let factor = entry.factor { row["factor"] = factor }
      if let before = entry.counterBefore { row["counterBefore"] = NSNumber(value: before) }
      if let after = entry.counterAfter { row["counterAfter"] = NSNumber(value: after) }
      if let source = entry.source { row["source"] = source }
      return row
    }
    if json {
      Output.json(["ok": true, "entries": rows])
    } else {
      for row in rows {
        let counters = row["counterAfter"].map { " counter→\($0)" } ?? ""
        Output.stdout(
          "\(row["at"]!)\t\(row["user"] ?? "-")\t\(row["factor"] ?? "-")\t\(row["action"]!)\t\(row["result"]!)\t\(row["reason"]!)\(counters)"
        )
      }
    }
  }
}
