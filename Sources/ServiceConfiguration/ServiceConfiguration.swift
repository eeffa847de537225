import Foundation
import Verifier
import Yams

/// Everything `otptoken serve` runs with, from one YAML file (`serve --config FILE`): the store,
/// the listeners, TLS, limits, every verifier setting, the pages, `/validate/check` callers and
/// RADIUS clients. Read once at start and checked whole: the first problem is reported with the
/// line it is on, and nothing starts.
public struct ServiceConfiguration: Sendable, Equatable {
  public struct Store: Sendable, Equatable {
    public var db: String?
    public var postgres: String?
    public var keyFile: String?
  }
  public struct TLS: Sendable, Equatable {
    public var certificate: String
    public var key: String
    public init(certificate: String, key: String) {
      self.certificate = certificate
      self.key = key
    }
  }
  public struct Web: Sendable, Equatable {
    public var enabled = true
    public var adminGroup = "admins"
    public var rememberDays = 30
    public var sessionHours = 12
    public var issuer = "otptoken"
    public init(
      enabled: Bool = true, adminGroup: String = "admins", rememberDays: Int = 30, sessionHours: Int = 12,
      issuer: String = "otptoken"
    ) {
      self.enabled = enabled
      self.adminGroup = adminGroup
      self.rememberDays = rememberDays
      self.sessionHours = sessionHours
      self.issuer = issuer
    }
  }
  public struct Caller: Sendable, Equatable {
    public var network: IPNetwork
    public var pass: PassField
    public init(network: IPNetwork, pass: PassField) {
      self.network = network
      self.pass = pass
    }
  }
  public struct Validate: Sendable, Equatable {
    public var callers: [Caller] = []
    public var apiKeys = false
  }
  public struct RADIUSClient: Sendable, Equatable {
    public var network: IPNetwork
    public var secret: String
    public var requireMessageAuthenticator: Bool
    public var pass: PassField
  }
  public struct RADIUS: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 1812
    public var prompt = "Enter the code from your token or phone app"
    public var clients: [RADIUSClient] = []
  }

  public var store = Store()
  public var host = "127.0.0.1"
  public var port = 8080
  public var threads = 16
  public var tls: TLS?
  public var ratePerAddress = 1000.0
  public var ratePerUser = 5.0
  public var keyCacheSeconds = 1.0
  public var connectionsPerAddress = 256
  public var idleTimeout = 15.0
  public var logLevel = "info"
  public var verifier = VerifierSettings()
  public var web = Web()
  public var validate = Validate()
  public var radius: RADIUS?

  public init() {}

  /// Reads and checks `path`. A file holding a secret (a RADIUS client's) must not be readable by
  /// group or others.
  public init(path: String) throws(ConfigurationError) {
    guard let data = FileManager.default.contents(atPath: path),
      let text = String(data: data, encoding: .utf8)
    else {
      throw ConfigurationError(file: path, line: nil, message: "cannot read the file (or it is not UTF-8)")
    }
    try self.init(yaml: text, file: path)
    if radius?.clients.isEmpty == false,
      let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int,
      mode & 0o077 != 0
    {
      throw ConfigurationError(
        file: path, line: nil,
        message:
          "holds RADIUS secrets but is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
    }
  }

  /// Reads a configuration from YAML text; `file` names it in errors.
  public init(yaml: String, file: String = "configuration") throws(ConfigurationError) {
    let root: Node?
    do { root = try Yams.compose(yaml: yaml) } catch {
      throw ConfigurationError(
        file: file, line: Self.line(of: error, in: yaml),
        message: "not valid YAML: \(Self.problem(of: error))")
    }
    let reader = Reader(file: file)
    guard let root else { return }
    try reader.read(root, into: &self)
  }

  static func line(of error: any Error, in yaml: String) -> Int? {
    guard let error = error as? YamlError else { return nil }
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
      return mark.line
    case .duplicatedKeysInMapping(let duplicates, let context):
      // The second time the key appears, from the mapping on.
      let key = (duplicates.first ?? "") + ":"
      let lines = yaml.components(separatedBy: "\n").enumerated().dropFirst(max(0, context.mark.line - 1))
      return lines.filter { $0.element.trimmingCharacters(in: .whitespaces).hasPrefix(key) }.dropFirst().first
        .map { $0.offset + 1 } ?? context.mark.line
    default: return nil
    }
  }

  static func problem(of error: any Error) -> String {
    if let error = error as? YamlError {
      switch error {
      case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
        return problem
      case .duplicatedKeysInMapping(let duplicates, _):
        return "'\(duplicates.joined(separator: "', '"))' is set twice"
      default: break
      }
    }
    return "\(error)"
  }
}

/// A problem in the configuration, with the line it is on.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
  public let file: String
  public let line: Int?
  public let message: String
  public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
}
