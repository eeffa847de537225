import ArgumentParser
import Foundation
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
