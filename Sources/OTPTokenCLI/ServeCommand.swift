import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Verifier
import VerifierService

struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run the verifier as an HTTP service (JSON API, API keys, metrics) until SIGTERM.",
    discussion: """
      Applications authenticate with 'Authorization: Bearer KEY' (see 'otptoken api-key'). Several
      nodes may share one PostgreSQL database (--postgres): each code is still accepted once.
      Prints {"listening": PORT} on standard output once it accepts connections; logs are JSON lines
      on standard error. The API is described at GET /openapi.json.

      Example:
        otptoken serve --postgres postgres://otp@db.internal/otp --key-file /etc/otptoken/master.key --port 8443
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The address to listen on.") var host = "127.0.0.1"
  @Option(help: "The TCP port (0: any free port).") var port = 8080
  @Option(help: "Threads for store calls (and PostgreSQL connections).") var threads = 16
  @Option(help: "Requests a second allowed per client address (0: no limit); bursts of twice that.")
  var ratePerAddress: Double = 1000
  @Option(help: "Verifications a second allowed per user (0: no limit); bursts of four times that.")
  var ratePerUser: Double = 5
  @Option(help: "Seconds a checked API key is trusted before it is looked up again (0: every request).")
  var keyCacheSeconds: Double = 1
  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
    guard (1...512).contains(threads) else { throw ValidationError("--threads must be 1 to 512") }
    guard ratePerAddress >= 0, ratePerUser >= 0, (0...300).contains(keyCacheSeconds) else {
      throw ValidationError("rates must not be negative; --key-cache-seconds is 0 to 300")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("unknown --log-level \(logLevel)")
    }
  }

  func run() async throws {
    let level = Logger.Level(rawValue: logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = JSONLogHandler(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "otptoken.service")
    let (store, keys) = try verifier.open(json: true, connections: threads)
    let hotp = try verifierCall(json: true) { () throws(VerifierError) in
      try HOTPVerifier(store: store, keys: keys)
    }
    let pool = NIOThreadPool(numberOfThreads: threads)
    pool.start()
    let api = VerifierAPI(
      accounts: Accounts(store: store, hotp: hotp), clientKeys: ClientKeys(store: store), threads: pool,
      limits: .init(
        perAddress: (ratePerAddress, ratePerAddress * 2), perUser: (ratePerUser, ratePerUser * 4)),
      logger: logger, keyCacheSeconds: keyCacheSeconds)
    do {
      try await VerifierServer.run(api: api, host: host, port: port, logger: logger) { port in
        Output.json(["listening": port])
      }
    } catch {
      try? await pool.shutdownGracefully()
      throw CLIFailure(.environment, "cannot serve on \(host):\(port): \(error)", json: true)
    }
    try? await pool.shutdownGracefully()
    logger.info("stopped")
  }
}

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
