import Foundation
import OTPWire

/// The yubikit trace (`yubikit-trace.txt`): the reports Yubico's host library wrote for each
/// command and the answers of the recorded token. Shared by the codec, firmware and driver tests.
public enum TraceVectors {
  /// RFC 4226's test key, "12345678901234567890", which the trace programs.
  public static let key = [UInt8]("12345678901234567890".utf8)
  public static let rfcKey = key

  /// One command of the trace: what the host wrote and what the token answered, as hex.
  public struct Command: Sendable {
    public var host: [String] = []
    public var token: [String] = []
  }

  /// Every command of the trace by its section name.
  public static let commands: [String: Command] = {
    guard let url = Bundle.module.url(forResource: "yubikit-trace", withExtension: "txt"),
      let text = try? String(contentsOf: url, encoding: .utf8)
    else { fatalError("yubikit-trace.txt is missing from the WireVectors bundle") }
    return parse(text)
  }()

  /// Sections `[name]` of `host`/`token` lines; `#` starts a comment.
  static func parse(_ text: String) -> [String: Command] {
    var commands: [String: Command] = [:]
    var current: String?
    for raw in text.split(separator: "\n") {
      let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        .trimmingCharacters(in: .whitespaces)
      if line.isEmpty { continue }
      if line.hasPrefix("[") && line.hasSuffix("]") {
        current = String(line.dropFirst().dropLast())
        commands[current!] = Command()
        continue
      }
      guard let name = current else { fatalError("a report before any section: \(line)") }
      let parts = line.split(separator: " ", maxSplits: 1)
      let bytes = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
      guard [UInt8](hex: bytes)?.count == 8 else { fatalError("not an 8-byte report: \(line)") }
      switch parts[0] {
      case "host": commands[name]!.host.append(bytes)
      case "token": commands[name]!.token.append(bytes)
      default: fatalError("a line is host or token: \(line)")
      }
    }
    return commands
  }

  public static var serialCommand: [String] { commands["serial"]!.host }
  public static var serialAnswer: [String] { commands["serial"]!.token }
  public static var programSlot2: [String] { commands["program-slot2"]!.host }
  public static var programSlot2EightDigitsWithAccessCode: [String] {
    commands["program-slot2-eight-digits-with-access-code"]!.host
  }
  public static var deleteSlot2WithAccessCode: [String] { commands["delete-slot2-with-access-code"]!.host }
  public static var deviceInfoCommand: [String] { commands["device-info"]!.host }
  public static var deviceInfoAnswer: [String] { commands["device-info"]!.token }

  public static func reports(_ lines: [String]) -> [FeatureReport] {
    lines.map { try! FeatureReport(bytes: [UInt8](hex: $0)!) }
  }
}
