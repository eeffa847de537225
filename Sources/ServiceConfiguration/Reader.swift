import Foundation
import Verifier
import Yams

/// Walks the YAML tree: every key known, every value of its type and range, every problem with its
/// line.
struct Reader {
  let file: String

  func fail(_ node: Node, _ message: String) -> ConfigurationError {
    ConfigurationError(file: file, line: node.mark.map { $0.line }, message: message)
  }

  /// The entries of a mapping, each key once and known.
  func entries(_ node: Node, _ what: String, known: [String]) throws(ConfigurationError) -> [(String, Node)] {
    try keyedEntries(node, what, known: known).map { ($0.0, $0.2) }
  }

  /// The entries with the nodes of their keys, for errors about a whole section.
  func keyedEntries(_ node: Node, _ what: String, known: [String]) throws(ConfigurationError) -> [(
    String, Node, Node
  )] {
    guard case .mapping(let mapping) = node else { throw fail(node, "\(what) must be a mapping of settings") }
    var seen: Set<String> = []
    var result: [(String, Node, Node)] = []
    for (keyNode, value) in mapping {
      guard case .scalar(let key) = keyNode else {
        throw fail(keyNode, "a setting's name must be plain text")
      }
      guard known.contains(key.string) else {
        throw fail(
          keyNode, "unknown setting '\(key.string)' in \(what); known: \(known.joined(separator: ", "))")
      }
      guard seen.insert(key.string).inserted else { throw fail(keyNode, "'\(key.string)' is set twice") }
      result.append((key.string, keyNode, value))
    }
    return result
  }

  func items(_ node: Node, _ what: String) throws(ConfigurationError) -> [Node] {
    guard case .sequence(let sequence) = node else { throw fail(node, "\(what) must be a list") }
    return Array(sequence)
  }

  func string(_ node: Node, _ what: String) throws(ConfigurationError) -> String {
    guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
      throw fail(node, "\(what) must be text")
    }
    return scalar.string
  }

  func int(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
    guard case .scalar(let scalar) = node, let value = Int(scalar.string), range.contains(value) else {
      throw fail(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
    }
    return value
  }

  func number(_ node: Node, _ what: String, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double
  {
    guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite,
      range.contains(value)
    else { throw fail(node, "\(what) must be a number from \(range.lowerBound) to \(range.upperBound)") }
    return value
  }

  func bool(_ node: Node, _ what: String) throws(ConfigurationError) -> Bool {
    guard case .scalar(let scalar) = node else { throw fail(node, "\(what) must be true or false") }
    switch scalar.string.lowercased() {
    case "true", "yes", "on": return true
    case "false", "no", "off": return false
    default: throw fail(node, "\(what) must be true or false")
    }
  }

  func network(_ node: Node, _ what: String) throws(ConfigurationError) -> IPNetwork {
    let text = try string(node, what)
    guard let network = IPNetwork(text) else {
      throw fail(node, "\(what) must be an IP address or network such as 10.0.0.0/8, not '\(text)'")
    }
    return network
  }

  func pass(_ node: Node, _ what: String) throws(ConfigurationError) -> PassField {
    let text = try string(node, what)
    guard let field = PassField(rawValue: text) else {
      throw fail(
        node,
        "\(what) must be 'password' (the password, then a code) or 'code' (the caller checked the password)")
    }
    return field
  }

  func read(_ root: Node, into c: inout ServiceConfiguration) throws(ConfigurationError) {
    let sections = ["store", "listen", "tls", "limits", "log_level", "verifier", "web", "validate", "radius"]
    for (key, keyNode, node) in try keyedEntries(root, "the file", known: sections) {
      switch key {
      case "store":
        for (name, value) in try entries(node, "store", known: ["db", "postgres", "key_file"]) {
          let text = try string(value, "store.\(name)")
          switch name {
          case "db": c.store.db = text
          case "postgres": c.store.postgres = text
          default: c.store.keyFile = text
          }
        }
        if c.store.db != nil && c.store.postgres != nil {
          throw fail(node, "store takes db or postgres, not both")
        }
      case "listen":
        for (name, value) in try entries(node, "listen", known: ["host", "port", "threads"]) {
          switch name {
          case "host": c.host = try string(value, "listen.host")
          case "port": c.port = try int(value, "listen.port", 0...65535)
          default: c.threads = try int(value, "listen.threads", 1...512)
          }
        }
      case "tls":
        var certificate: String?
        var key: String?
        for (name, value) in try entries(node, "tls", known: ["certificate", "key"]) {
          if name == "certificate" {
            certificate = try string(value, "tls.certificate")
          } else {
            key = try string(value, "tls.key")
          }
        }
        guard let certificate, let key else { throw fail(keyNode, "tls needs both certificate and key") }
        c.tls = .init(certificate: certificate, key: key)
      case "limits":
        let known = [
          "rate_per_address", "rate_per_user", "key_cache_seconds", "connections_per_address", "idle_timeout",
        ]
        for (name, value) in try entries(node, "limits", known: known) {
          switch name {
          case "rate_per_address": c.ratePerAddress = try number(value, "limits.\(name)", 0...1_000_000)
          case "rate_per_user": c.ratePerUser = try number(value, "limits.\(name)", 0...1_000_000)
          case "key_cache_seconds": c.keyCacheSeconds = try number(value, "limits.\(name)", 0...300)
          case "connections_per_address":
            c.connectionsPerAddress = try int(value, "limits.\(name)", 1...100_000)
          default: c.idleTimeout = try number(value, "limits.\(name)", 0.001...3600)
          }
        }
      case "log_level":
        let level = try string(node, "log_level")
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
          throw fail(node, "log_level must be trace, debug, info, notice, warning, error or critical")
        }
        c.logLevel = level
      case "verifier": try readVerifier(node, keyNode, into: &c.verifier)
      case "web":
        let known = ["enabled", "admin_group", "remember_days", "session_hours", "issuer"]
        for (name, value) in try entries(node, "web", known: known) {
          switch name {
          case "enabled": c.web.enabled = try bool(value, "web.enabled")
          case "admin_group": c.web.adminGroup = try string(value, "web.admin_group")
          case "remember_days": c.web.rememberDays = try int(value, "web.remember_days", 0...400)
          case "session_hours": c.web.sessionHours = try int(value, "web.session_hours", 1...720)
          default: c.web.issuer = try string(value, "web.issuer")
          }
        }
      case "validate":
        for (name, value) in try entries(node, "validate", known: ["callers", "api_keys"]) {
          if name == "api_keys" {
            c.validate.apiKeys = try bool(value, "validate.api_keys")
            continue
          }
          for item in try items(value, "validate.callers") {
            var network: IPNetwork?
            var field = PassField.password
            for (key, setting) in try entries(item, "a caller", known: ["network", "pass"]) {
              if key == "network" {
                network = try self.network(setting, "a caller's network")
              } else {
                field = try pass(setting, "a caller's pass")
              }
            }
            guard let network else { throw fail(item, "a caller needs its network") }
            c.validate.callers.append(.init(network: network, pass: field))
          }
        }
      default: c.radius = try readRADIUS(node, keyNode)
      }
    }
  }

  func readVerifier(_ node: Node, _ keyNode: Node, into settings: inout VerifierSettings)
    throws(ConfigurationError)
  {
    let known = [
      "look_ahead", "sync_window", "resync_expiry_seconds", "explicit_resync_window", "replay_lookback",
      "throttle_after", "throttle_base_seconds", "throttle_cap_seconds", "hard_lock_after", "totp_window",
      "totp_maximum_drift_steps", "password_rounds",
    ]
    for (name, value) in try entries(node, "verifier", known: known) {
      let number = try int(value, "verifier.\(name)", 0...10_000_000)
      switch name {
      case "look_ahead": settings.lookAhead = number
      case "sync_window": settings.syncWindow = number
      case "resync_expiry_seconds": settings.resyncExpirySeconds = number
      case "explicit_resync_window": settings.explicitResyncWindow = number
      case "replay_lookback": settings.replayLookback = number
      case "throttle_after": settings.throttleAfter = number
      case "throttle_base_seconds": settings.throttleBaseSeconds = number
      case "throttle_cap_seconds": settings.throttleCapSeconds = number
      case "hard_lock_after": settings.hardLockAfter = number
      case "totp_window": settings.totpWindow = number
      case "totp_maximum_drift_steps": settings.totpMaximumDriftSteps = number
      default: settings.passwordRounds = number
      }
    }
    do { settings = try settings.validated() } catch { throw fail(node, "verifier: \(error)") }
  }

  func readRADIUS(_ node: Node, _ keyNode: Node) throws(ConfigurationError) -> ServiceConfiguration.RADIUS {
    var radius = ServiceConfiguration.RADIUS()
    for (name, value) in try entries(node, "radius", known: ["host", "port", "prompt", "clients"]) {
      switch name {
      case "host": radius.host = try string(value, "radius.host")
      case "port": radius.port = try int(value, "radius.port", 0...65535)
      case "prompt": radius.prompt = try string(value, "radius.prompt")
      default:
        for item in try items(value, "radius.clients") {
          var network: IPNetwork?
          var secret: String?
          var required = true
          var field = PassField.password
          let known = ["network", "secret", "require_message_authenticator", "pass"]
          for (key, setting) in try entries(item, "a RADIUS client", known: known) {
            switch key {
            case "network": network = try self.network(setting, "a RADIUS client's network")
            case "secret":
              let text = try string(setting, "a RADIUS client's secret")
              guard text.utf8.count >= 16 else {
                throw fail(setting, "a RADIUS client's secret must be at least 16 bytes, as RFC 2865 asks")
              }
              secret = text
            case "require_message_authenticator":
              required = try bool(setting, "require_message_authenticator")
            default: field = try pass(setting, "a RADIUS client's pass")
            }
          }
          guard let network, let secret else {
            throw fail(item, "a RADIUS client needs its network and secret")
          }
          radius.clients.append(
            .init(network: network, secret: secret, requireMessageAuthenticator: required, pass: field))
        }
      }
    }
    guard !radius.clients.isEmpty else { throw fail(keyNode, "radius needs at least one client") }
    return radius
  }
}
