import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Verifier
import VerifierService
import VerifierWeb

struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run the verifier as an HTTP service (JSON API, sign-in pages, metrics) until SIGTERM.",
    discussion: """
      Applications authenticate with 'Authorization: Bearer KEY' (see 'otptoken api-key'). Several
      nodes may share one PostgreSQL database (--postgres): each code is still accepted once.
      Prints {"listening": PORT} on standard output once it accepts connections; logs are JSON lines
      on standard error. The API is described at GET /openapi.json. A node holds at most
      --connections-per-address connections from one address and, in all, its descriptor limit less
      64; a connection past either is closed when accepted, and an idle one after --idle-timeout.

      Unless --no-web, the same port serves the pages people sign in on (/signin), their Security
      page (/account) and, for members of --admin-group, the administrators' pages (/admin/users).

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
  @Option(help: "Connections held at once from one client address; one more is closed when accepted.")
  var connectionsPerAddress = 256
  @Option(help: "Seconds a connection may stay idle, or take to send a request head, before it is closed.")
  var idleTimeout: Double = 15
  @Flag(help: "Serve the API only, without the sign-in, Security and administrators' pages.") var noWeb =
    false
  @Option(help: "Members of this group see the administrators' pages.") var adminGroup = "admins"
  @Option(
    help: "Days 'remember me' keeps a browser signed in (0: the option only lasts the browser session).")
  var rememberDays = 30
  @Option(help: "Hours a browser stays signed in without 'remember me'.") var sessionHours = 12
  @Option(help: "The issuer name phone apps show beside the account.") var issuer = "otptoken"
  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
    guard (1...512).contains(threads) else { throw ValidationError("--threads must be 1 to 512") }
    guard ratePerAddress >= 0, ratePerUser >= 0, (0...300).contains(keyCacheSeconds) else {
      throw ValidationError("rates must not be negative; --key-cache-seconds is 0 to 300")
    }
    guard (1...100_000).contains(connectionsPerAddress), idleTimeout > 0, idleTimeout <= 3600 else {
      throw ValidationError("--connections-per-address is 1 to 100000; --idle-timeout is (0, 3600] seconds")
    }
    guard (0...400).contains(rememberDays), (1...720).contains(sessionHours), !adminGroup.isEmpty else {
      throw ValidationError("--remember-days is 0 to 400, --session-hours 1 to 720; --admin-group is a name")
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
    let router = api.makeRouter()
    if !noWeb {
      let options = WebPages.Options(
        adminGroup: adminGroup, issuer: issuer, sessionHours: sessionHours, rememberDays: rememberDays)
      do {
        try WebPages(api: api, options: options, logger: Logger(label: "otptoken.web")).register(on: router)
      } catch {
        try? await pool.shutdownGracefully()
        throw CLIFailure(.environment, "cannot serve the pages: \(error)", json: true)
      }
    }
    do {
      let limits = ConnectionLimits(
        perAddress: connectionsPerAddress, idleTimeout: .milliseconds(Int64(idleTimeout * 1000)))
      try await VerifierServer.run(router: router, host: host, port: port, limits: limits, logger: logger) {
        port in
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
