import ArgumentParser
import Foundation
import OTPWire
import SeedImport
import Verifier

struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import a vendor's PSKC seed file (RFC 6030): tokens wait unassigned until `assign`.",
    discussion: """
      Plain files need nothing more; encrypted ones need the pre-shared key (--key-hex) or the
      password (--password-file). The MAC of every encrypted value is checked and a file that fails
      is refused whole (--skip-invalid imports the rest and lists what was skipped). A serial that
      exists already is a conflict unless --replace is given. Nothing is half-imported.

      Example:
        otptoken import tokens.pskcxml --key-hex 12345678901234567890123456789012
      """)
  @OptionGroup var verifier: VerifierOptions
  @Argument(help: "The PSKC file.") var file: String
  @Option(help: "The pre-shared AES key, in hex.") var keyHex: String?
  @Option(help: "A file holding the password the encryption key is derived from.") var passwordFile: String?
  @Flag(help: "Replace tokens whose serial exists already.") var replace = false
  @Flag(help: "Skip keys that fail their check instead of refusing the file.") var skipInvalid = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    var decryption = PSKCDecryption.none
    if let keyHex {
      guard let bytes = [UInt8](hex: keyHex), [16, 24, 32].contains(bytes.count) else {
        throw CLIFailure(.usage, "--key-hex must be 32, 48 or 64 hex digits", json: json)
      }
      decryption = .preSharedKey(bytes)
    } else if let passwordFile {
      guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
        throw CLIFailure(.usage, "cannot read \(passwordFile)", json: json)
      }
      decryption = .password(text.trimmingCharacters(in: .newlines))
    }
    guard let data = FileManager.default.contents(atPath: file) else {
      throw CLIFailure(.usage, "cannot read \(file)", json: json)
    }
    let (store, keys) = try verifier.open(json: json)
    let importer = SeedImporter(store: store, keys: keys)
    let report: SeedImporter.Report
    do {
      report = try importer.importPSKC(
        data, reader: PSKCReader(decryption: decryption, skipInvalid: skipInvalid), replace: replace,
        source: verifier.source
      ) { done, total in
        if total >= 1000 && (done % 1000 == 0 || done == total) && !json {
          Output.stderr("read \(done) of \(total) keys")
        }
      }
    } catch let error as PSKCError {
      throw CLIFailure(.usage, "\(file): \(error)", json: json)
    } catch let error as StoreError {
      if case .conflict = error {
        throw CLIFailure(.refused, "\(error); nothing was imported (pass --replace to overwrite)", json: json)
      }
      throw CLIFailure(.environment, error.description, json: json)
    } catch let error as VerifierError {
      throw CLIFailure(.environment, error.description, json: json)
    }
    if json {
      Output.json(["ok": true, "imported": report.imported, "skipped": report.skipped])
    } else {
      Output.stderr("imported \(report.imported.count) tokens, unassigned until `otptoken assign`")
      for skipped in report.skipped { Output.stderr("skipped \(skipped)") }
    }
  }
}

struct AssignCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "assign",
    abstract: "Give an imported token to a user who proves it with two consecutive codes.",
    discussion: """
      Example:
        otptoken assign --user alice --serial 987654321 755224 287082
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The token's serial.") var serial: String
  @Argument(help: "A code.") var first: String
  @Argument(help: "The code of the next press.") var second: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let engine = try verifier.verifier(json: json)
    let decision = try verifierCall(json: json) { () throws(VerifierError) in
      try engine.assign(serial: serial, to: user, codes: (first, second), source: verifier.source)
    }
    try report(decision, user: user, json: json)
  }
}

struct UserCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "user",
    abstract: "Add and list users, set their groups, turn two-step login off for a while.",
    subcommands: [UserAdd.self, UserList.self, UserGroups.self, UserSecondFactorOff.self])
}

struct UserAdd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add", abstract: "Create a user, optionally with an account password.",
    discussion: "Example:\n  echo 's3cret' | otptoken user add --user alice --password-stdin")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user's name.") var user: String
  @Flag(help: "Read the account password from standard input (the verifier then runs the whole login).")
  var passwordStdin = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    var password: String?
    if passwordStdin {
      guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw CLIFailure(.usage, "no password on standard input", json: json)
      }
      password = line
    }
    let accounts = try verifier.accounts(json: json)
    do { try accounts.createUser(name: user, password: password, source: verifier.source) } catch {
      switch error {
      case .conflict(let why): throw CLIFailure(.refused, why, json: json)
      case .invalidInput(let why): throw CLIFailure(.usage, why, json: json)
      default: throw CLIFailure(.environment, error.description, json: json)
      }
    }
    if json { Output.json(["ok": true, "user": user]) } else { Output.stderr("created user \(user)") }
  }
}

struct UserList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List users and their tokens.",
    discussion: "Example:\n  otptoken user list --json")
  @OptionGroup var verifier: VerifierOptions
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let (store, _) = try verifier.open(json: json)
    var users: [[String: Any]] = []
    do {
      for user in try store.users() {
        let tokens = try store.hotpFactors(userID: user.id).map { factor -> [String: Any] in
          var state = factor.active ? "active" : "unconfirmed"
          if factor.state.hardLocked {
            state = "locked"
          } else if factor.state.throttledUntil != nil {
            state = "throttled"
          }
          return [
            "serial": factor.serial, "digits": factor.digits, "state": state,
            "failures": factor.state.failures,
          ]
        }
        users.append(["user": user.name, "tokens": tokens])
      }
    } catch { throw CLIFailure(.environment, error.description, json: json) }
    if json {
      Output.json(["ok": true, "users": users])
    } else {
      for user in users {
        let tokens = (user["tokens"] as! [[String: Any]]).map { "hotp:\($0["serial"]!) (\($0["state"]!))" }
        Output.stdout("\(user["user"]!)\t\(tokens.isEmpty ? "no token" : tokens.joined(separator: ", "))")
      }
    }
  }
}
