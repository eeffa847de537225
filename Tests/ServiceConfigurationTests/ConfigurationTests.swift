import Foundation
import ServiceConfiguration
import TestScratch
import Testing
import Verifier

@Suite struct ConfigurationTests {
  static let example = """
    store:
      postgres: postgres://otp@db.internal/otp
      key_file: /etc/otptoken/master.key
    listen:
      host: 0.0.0.0
      port: 8443
      threads: 8
    tls:
      certificate: /etc/otptoken/cert.pem
      key: /etc/otptoken/key.pem
    limits:
      rate_per_address: 200
      rate_per_user: 2.5
      connections_per_address: 64
      idle_timeout: 5
    log_level: notice
    verifier:
      look_ahead: 20
      sync_window: 500
      throttle_after: 3
      hard_lock_after: 50
    web:
      enabled: false
    validate:
      callers:
        - network: 10.0.0.0/8
        - network: 192.168.1.5
          pass: code
    radius:
      port: 1812
      clients:
        - network: 10.1.0.0/16
          secret: a-secret-of-sixteen-or-more
        - network: 127.0.0.2
          secret: another-long-secret-here
          require_message_authenticator: false
          pass: code
    """

  @Test func everySettingIsRead() throws {
    let c = try ServiceConfiguration(yaml: Self.example)
    #expect(
      c.store.postgres == "postgres://otp@db.internal/otp" && c.store.keyFile == "/etc/otptoken/master.key")
    #expect(c.host == "0.0.0.0" && c.port == 8443 && c.threads == 8)
    #expect(c.tls == .init(certificate: "/etc/otptoken/cert.pem", key: "/etc/otptoken/key.pem"))
    #expect(
      c.ratePerAddress == 200 && c.ratePerUser == 2.5 && c.connectionsPerAddress == 64 && c.idleTimeout == 5)
    #expect(c.logLevel == "notice" && !c.web.enabled)
    #expect(c.verifier.lookAhead == 20 && c.verifier.syncWindow == 500 && c.verifier.throttleAfter == 3)
    #expect(c.validate.callers.map(\.pass) == [.password, .code])
    #expect(
      c.validate.callers[0].network.contains("10.200.3.4")
        && !c.validate.callers[0].network.contains("11.0.0.1"))
    let radius = try #require(c.radius)
    #expect(
      radius.clients.count == 2 && !radius.clients[1].requireMessageAuthenticator
        && radius.clients[1].pass == .code)
    #expect(radius.clients[0].requireMessageAuthenticator)
  }

  @Test func anEmptyFileIsTheDefaults() throws {
    #expect(try ServiceConfiguration(yaml: "") == ServiceConfiguration())
  }

  @Test(arguments: [
    ("listen:\n  port: 8080\n  prot: 1\n", 3, "unknown setting 'prot'"),
    ("listen:\n  port: eighty\n", 2, "listen.port must be a whole number"),
    ("verifier:\n  look_ahead: 0\n", 2, "verifier: invalid setting"),
    ("validate:\n  callers:\n    - network: 10.0.0.0/33\n", 3, "must be an IP address or network"),
    ("log_level: loud\n", 1, "log_level must be"),
    ("listen:\n  port: 1\n  port: 2\n", 3, "'port' is set twice"),
    ("listen: [1, 2\n", 2, "not valid YAML"),
    ("radius:\n  clients:\n    - network: 127.0.0.1\n      secret: short\n", 4, "at least 16 bytes"),
    ("radius:\n  port: 1812\n", 1, "at least one client"),
    ("tls:\n  certificate: /x\n", 1, "needs both certificate and key"),
    ("web:\n  enabled: maybe\n", 2, "must be true or false"),
  ])
  func anErrorNamesItsLine(yaml: String, line: Int, message: String) {
    do {
      _ = try ServiceConfiguration(yaml: yaml, file: "otptoken.yaml")
      Issue.record("accepted: \(yaml)")
    } catch {
      #expect(error.line == line, "\(error)")
      #expect(error.description.hasPrefix("otptoken.yaml:\(line): "), "\(error)")
      #expect(error.message.contains(message), "\(error)")
    }
  }

  @Test func aFileWithSecretsMustBeReadableByItsOwnerOnly() throws {
    let path = scratchDirectory("configuration") + "/otptoken.yaml"
    try Data("radius:\n  clients:\n    - network: 127.0.0.1\n      secret: sixteen-bytes-or-more\n".utf8)
      .write(
        to: URL(fileURLWithPath: path))
    chmod(path, 0o644)
    #expect(throws: ConfigurationError.self) { try ServiceConfiguration(path: path) }
    chmod(path, 0o600)
    #expect(try ServiceConfiguration(path: path).radius?.clients.count == 1)
    #expect(throws: ConfigurationError.self) { try ServiceConfiguration(path: path + ".missing") }
  }
}
