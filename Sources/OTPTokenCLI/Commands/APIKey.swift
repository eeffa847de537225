import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Verifier

struct APIKeyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "api-key",
    abstract: "Issue, list and revoke the API keys of applications calling 'otptoken serve'.",
    subcommands: [APIKeyAdd.self, APIKeyRevoke.self, APIKeyList.self])
}

struct APIKeyAdd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add",
    abstract: "Issue a key for an application; it is printed once and stored only as a hash.",
    discussion: "Example:\n  otptoken api-key add --name webshop --scope verify")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The application's name (letters, digits, '.', '_', '-').") var name: String
  @Option(help: "verify (verification and login only) or admin (everything).") var scope: String = "verify"
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let scope = ClientScope(rawValue: scope) else {
      throw CLIFailure(.usage, "--scope is verify or admin", json: json)
    }
    let (store, _) = try verifier.open(json: json)
    let key = try verifierCall(json: json) { () throws(VerifierError) in
      try ClientKeys(store: store).issue(name: name, scope: scope)
    }
    if json {
      Output.json(["ok": true, "name": name, "scope": scope.rawValue, "key": key])
    } else {
      Output.stdout(key)
      Output.stderr("issued a \(scope.rawValue) key for \(name); it is not shown again")
    }
  }
}

struct APIKeyRevoke: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "revoke", abstract: "Revoke an application's key: refused from the next request on.",
    discussion: "Example:\n  otptoken api-key revoke --name webshop")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The application's name.") var name: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let (store, _) = try verifier.open(json: json)
    try verifierCall(json: json) { () throws(VerifierError) in try ClientKeys(store: store).revoke(name: name)
    }
    if json {
      Output.json(["ok": true, "name": name, "result": "revoked"])
    } else {
      Output.stderr("revoked \(name)")
    }
  }
}

struct APIKeyList: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List the applications' keys (names and scopes, never the keys).",
    discussion: "Example:\n  otptoken api-key list --json")
  @OptionGroup var verifier: VerifierOptions
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let (store, _) = try verifier.open(json: json)
    let keys = try verifierCall(json: json) { () throws(VerifierError) in try ClientKeys(store: store).list()
    }
    if json {
      Output.json([
        "keys": keys.map { key -> [String: Any] in
          var object: [String: Any] = [
            "name": key.name, "scope": key.scope.rawValue, "createdAt": key.createdAt,
          ]
          if let revoked = key.revokedAt { object["revokedAt"] = revoked }
          return object
        }
      ])
    } else {
      for key in keys {
        Output.stdout("\(key.name)\t\(key.scope.rawValue)\t\(key.revokedAt == nil ? "live" : "revoked")")
      }
    }
  }
}
