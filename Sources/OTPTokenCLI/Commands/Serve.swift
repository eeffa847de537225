import ArgumentParser
import Foundation
import Logging
import NIOPosix
import Verifier
import ServiceConfiguration
import VerifierRADIUS
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

      /validate/check (privacyIDEA's protocol) answers only callers from a --validate-from network
      (NETWORK, or NETWORK=code when the caller checks the password itself and sends the code
      alone). With --tls-cert and --tls-key the port speaks HTTPS only; SIGHUP reloads the
      certificate. --config FILE takes every setting from a YAML file instead (docs/configuration.md),
      RADIUS clients included; the other options above are then refused.

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
  @Option(help: "PEM certificate chain: serve HTTPS (with --tls-key); reloaded on SIGHUP.") var tlsCert:
    String?
  @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
  @Option(
    help: ArgumentHelp(
      "A network allowed to call /validate/check (repeatable): NETWORK, or NETWORK=code for callers that check the password themselves.",
      valueName: "network"))
  var validateFrom: [String] = []
  @Option(help: "A configuration file (YAML) with every setting (docs/configuration.md).") var config: String?

  func validate() throws {
    if config != nil {
      let given = givenOptions
      guard given.isEmpty else {
        throw ValidationError(
          "with --config, set \(given.joined(separator: ", ")) in the file, not on the command line")
      }
      return
    }
    _ = try configuration()
  }

  /// The options that differ from their defaults (with --config they belong in the file).
  var givenOptions: [String] {
    let defaults = ServiceConfiguration()
    var given: [String] = []
    if host != defaults.host { given.append("--host") }
    if port != 8080 { given.append("--port") }
    if threads != defaults.threads { given.append("--threads") }
    if ratePerAddress != defaults.ratePerAddress { given.append("--rate-per-address") }
    if ratePerUser != defaults.ratePerUser { given.append("--rate-per-user") }
    if keyCacheSeconds != defaults.keyCacheSeconds { given.append("--key-cache-seconds") }
    if connectionsPerAddress != defaults.connectionsPerAddress { given.append("--connections-per-address") }
    if idleTimeout != defaults.idleTimeout { given.append("--idle-timeout") }
    if noWeb { given.append("--no-web") }
    if adminGroup != defaults.web.adminGroup { given.append("--admin-group") }
    if rememberDays != defaults.web.rememberDays { given.append("--remember-days") }
    if sessionHours != defaults.web.sessionHours { given.append("--session-hours") }
    if issuer != defaults.web.issuer { given.append("--issuer") }
    if logLevel != defaults.logLevel { given.append("--log-level") }
    if tlsCert != nil || tlsKey != nil { given.append("--tls-cert/--tls-key") }
    if !validateFrom.isEmpty { given.append("--validate-from") }
    return given
  }

  /// Every setting: from the file with --config, else from the options.
  func configuration() throws -> ServiceConfiguration {
    if let config {
      do { return try ServiceConfiguration(path: config) } catch {
        throw CLIFailure(.usage, error.description, json: true)
      }
    }
    var c = ServiceConfiguration()
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
    (c.host, c.port, c.threads, c.logLevel) = (host, port, threads, logLevel)
    (c.ratePerAddress, c.ratePerUser, c.keyCacheSeconds) = (ratePerAddress, ratePerUser, keyCacheSeconds)
    (c.connectionsPerAddress, c.idleTimeout) = (connectionsPerAddress, idleTimeout)
    c.web = .init(
      enabled: !noWeb, adminGroup: adminGroup, rememberDays: rememberDays, sessionHours: sessionHours,
      issuer: issuer)
    switch (tlsCert, tlsKey) {
    case (let certificate?, let key?): c.tls = .init(certificate: certificate, key: key)
    case (nil, nil): break
    default: throw ValidationError("give --tls-cert and --tls-key together")
    }
    for entry in validateFrom {
      let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
      guard let network = IPNetwork(parts[0]),
        let field = PassField(rawValue: parts.count > 1 ? parts[1] : "password")
      else { throw ValidationError("--validate-from takes NETWORK or NETWORK=code, not \(entry)") }
      c.validate.callers.append(.init(network: network, pass: field))
    }
    return c
  }

  func run() async throws {
    let c = try configuration()
    let level = Logger.Level(rawValue: c.logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = JSONLogHandler(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "otptoken.service")
    var options = verifier
    if c.store.db != nil || c.store.postgres != nil {
      (options.db, options.postgres) = (c.store.db, c.store.postgres)
    }
    if let keyFile = c.store.keyFile { options.keyFile = keyFile }
    let (store, keys) = try options.open(json: true, connections: c.threads)
    let settings = c.verifier
    let hotp = try verifierCall(json: true) { () throws(VerifierError) in
      try HOTPVerifier(store: store, keys: keys, settings: settings)
    }
    var certificates: TLSCertificates?
    if let tls = c.tls {
      do { certificates = try TLSCertificates(certificatePath: tls.certificate, keyPath: tls.key) } catch {
        throw CLIFailure(.environment, "cannot read the TLS certificate or key: \(error)", json: true)
      }
    }
    let tls = certificates
    let pool = NIOThreadPool(numberOfThreads: c.threads)
    pool.start()
    let accounts = Accounts(store: store, hotp: hotp)
    let api = VerifierAPI(
      accounts: accounts, clientKeys: ClientKeys(store: store), threads: pool,
      limits: .init(
        perAddress: (c.ratePerAddress, c.ratePerAddress * 2), perUser: (c.ratePerUser, c.ratePerUser * 4)),
      logger: logger, keyCacheSeconds: c.keyCacheSeconds,
      validateAccess: ValidateAccess(
        callers: c.validate.callers.map { .init(network: $0.network, field: $0.pass) },
        apiKeys: c.validate.apiKeys))
    let router = api.makeRouter()
    if c.web.enabled {
      let web = WebPages.Options(
        adminGroup: c.web.adminGroup, issuer: c.web.issuer, sessionHours: c.web.sessionHours,
        rememberDays: c.web.rememberDays, secureCookies: c.tls != nil)
      do {
        try WebPages(api: api, options: web, logger: Logger(label: "otptoken.web")).register(on: router)
      } catch {
        try? await pool.shutdownGracefully()
        throw CLIFailure(.environment, "cannot serve the pages: \(error)", json: true)
      }
    }
    let reloads = tls.map { Self.reloadOnHangUp($0, logger) }
    defer { reloads?.cancel() }
    do {
      let limits = ConnectionLimits(
        perAddress: c.connectionsPerAddress, idleTimeout: .milliseconds(Int64(c.idleTimeout * 1000)))
      try await withThrowingTaskGroup { group in
        if let radius = c.radius {
          let server = RADIUSServer(
            accounts: accounts,
            clients: radius.clients.map {
              RADIUSClient(
                network: $0.network, secret: Array($0.secret.utf8),
                requireMessageAuthenticator: $0.requireMessageAuthenticator, passField: $0.pass)
            }, prompt: radius.prompt, logger: Logger(label: "otptoken.radius"))
          group.addTask {
            try await server.run(
              host: radius.host, port: radius.port, group: MultiThreadedEventLoopGroup.singleton
            ) {
              Output.json(["radius": $0])
            }
          }
        }
        // The HTTP server returns on SIGTERM (or fails); RADIUS stops with it.
        try await VerifierServer.run(
          router: router, host: c.host, port: c.port, limits: limits, tls: tls, logger: logger
        ) { Output.json(["listening": $0]) }
        group.cancelAll()
      }
    } catch {
      try? await pool.shutdownGracefully()
      throw CLIFailure(.environment, "cannot serve on \(c.host):\(c.port): \(error)", json: true)
    }
    try? await pool.shutdownGracefully()
    logger.info("stopped")
  }

  /// Reads the certificate and key again on every SIGHUP; a failed reload keeps the old pair.
  static func reloadOnHangUp(_ certificates: TLSCertificates, _ logger: Logger) -> any DispatchSourceSignal {
    signal(SIGHUP, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGHUP)
    source.setEventHandler {
      do {
        try certificates.reload()
        logger.notice("reloaded the TLS certificate")
      } catch {
        logger.error("kept the TLS certificate: the new one cannot be read", metadata: ["error": "\(error)"])
      }
    }
    source.resume()
    return source
  }
}
