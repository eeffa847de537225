import ArgumentParser
import Foundation
import Verifier
import VerifierPostgres
import VerifierSQLite

/// Where the verifier's state and master key live: `--postgres` (or `$OTPTOKEN_POSTGRES`) for a
/// PostgreSQL database shared by several machines, else the SQLite file `--db`, else `$OTPTOKEN_DB`,
/// else `$XDG_DATA_HOME/otptoken/verifier.sqlite` (or `~/.local/share/...`); `--key-file`, else
/// `$OTPTOKEN_KEY_FILE`, else a key file next to the SQLite database.
///
/// What is created, and only then: the first use of a database creates it (0600) and its key file
/// (0600) beside it. The default folder is created (0700) if missing; a folder that was named
/// (`--db`, `$OTPTOKEN_DB`) must exist. A database that exists without its key file is an error,
/// never a new key, since a new key opens none of the secrets sealed so far.
package struct VerifierOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "A PostgreSQL database shared by several machines, as postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or ...@/DB?host=/socket/dir); default $OTPTOKEN_POSTGRES.",
      valueName: "url"))
  var postgres: String?
  @Option(
    help: "The verifier's SQLite database (default: $OTPTOKEN_DB or ~/.local/share/otptoken/verifier.sqlite)."
  )
  var db: String?
  @Option(help: "The master key file sealing secrets (default: $OTPTOKEN_KEY_FILE or next to the database).")
  var keyFile: String?
  @Option(help: "Who is asking, for the audit log.") var source: String?
  @Option(help: "Seconds to wait for a database another process holds locked.") var lockTimeout: Double = 10

  package init() {}

  var databasePath: String {
    if let db { return db }
    let environment = ProcessInfo.processInfo.environment
    if let path = environment["OTPTOKEN_DB"], !path.isEmpty { return path }
    let base =
      environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
      ?? (NSHomeDirectory() + "/.local/share")
    return base + "/otptoken/verifier.sqlite"
  }

  var keyPath: String {
    if let keyFile { return keyFile }
    if let path = ProcessInfo.processInfo.environment["OTPTOKEN_KEY_FILE"], !path.isEmpty { return path }
    return (databasePath as NSString).deletingPathExtension + ".key"
  }

  var postgresURL: String? {
    if let postgres { return postgres }
    if let url = ProcessInfo.processInfo.environment["OTPTOKEN_POSTGRES"], !url.isEmpty { return url }
    return nil
  }

  /// The whole store: users, factors, audit, account side and API keys.
  package typealias Store = Accounts.Store & ClientKeyStore

  /// Opens the store and the key ring; failures are environment errors (exit 3). With PostgreSQL
  /// the key file must be given (it is shared by every node, so it is not created implicitly).
  package func open(json: Bool, createKey: Bool = true, connections: Int = 4) throws -> (
    store: any Store, keys: MasterKeyRing
  ) {
    do {
      let store: any Store
      if let url = postgresURL {
        guard keyFile != nil || ProcessInfo.processInfo.environment["OTPTOKEN_KEY_FILE"] != nil else {
          throw CLIFailure(
            .usage,
            "with --postgres, give the master key file every node shares (--key-file or $OTPTOKEN_KEY_FILE)",
            json: json)
        }
        store = try PostgresStore(location: PostgresLocation(url: url), connections: connections)
      } else {
        let path = databasePath
        let existed = FileManager.default.fileExists(atPath: path)
        if db == nil, ProcessInfo.processInfo.environment["OTPTOKEN_DB"].map({ $0.isEmpty }) ?? true {
          try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        }
        store = try SQLiteStore(path: path, busyTimeout: max(0, lockTimeout))
        if existed && !FileManager.default.fileExists(atPath: keyPath) {
          throw CLIFailure(
            .environment,
            "the database \(path) exists but its key file \(keyPath) does not: give the key with --key-file (or $OTPTOKEN_KEY_FILE) or restore it; a new key would open none of the secrets sealed so far",
            json: json)
        }
        if existed, let mode = SQLiteStore.openToOthers(path) {
          Output.stderr(
            "otptoken: warning: \(path) may be read by others (mode \(String(mode, radix: 8))): chmod 600 \(path)"
          )
        }
      }
      let keys =
        createKey ? try MasterKeyRing.loadOrCreate(path: keyPath) : try MasterKeyRing.load(path: keyPath)
      return (store, keys)
    } catch let error as StoreError {
      throw CLIFailure(.environment, error.description, json: json)
    } catch let error as VerifierError {
      throw CLIFailure(.environment, error.description, json: json)
    }
  }

  /// The whole verifier: hardware tokens, phone apps, recovery codes, application passwords, login.
  package func accounts(json: Bool, connections: Int = 4) throws -> Accounts {
    let (store, keys) = try open(json: json, connections: connections)
    let hotp = try verifierCall(json: json) { () throws(VerifierError) in
      try HOTPVerifier(store: store, keys: keys)
    }
    return Accounts(store: store, hotp: hotp)
  }

  func verifier(json: Bool) throws -> HOTPVerifier {
    let (store, keys) = try open(json: json)
    return try verifierCall(json: json) { () throws(VerifierError) in
      try HOTPVerifier(store: store, keys: keys)
    }
  }
}

/// Runs a verifier call, mapping its errors to the documented exit statuses.
package func verifierCall<T>(json: Bool, _ body: () throws(VerifierError) -> T) throws -> T {
  do { return try body() } catch { throw failure(error, json: json) }
}

/// ``verifierCall(json:_:)`` for an asynchronous call.
func verifierCall<T>(json: Bool, _ body: () async throws(VerifierError) -> T) async throws -> T {
  do { return try await body() } catch { throw failure(error, json: json) }
}

/// A verifier error as the command line reports it, with its documented exit status.
func failure(_ error: VerifierError, json: Bool) -> CLIFailure {
  switch error {
  case .store, .keyFile, .sealing: return CLIFailure(.environment, error.description, json: json)
  case .unknownUser, .notFound: return CLIFailure(.refused, error.description, json: json)
  default: return CLIFailure(.usage, error.description, json: json)
  }
}

/// Prints a decision and ends with 0 (accepted) or 1 (refused).
func report(_ decision: Decision, user: String, json: Bool) throws {
  if json {
    Output.json(DecisionAnswer(decision, user: user))
  } else {
    let text: String
    switch decision.reason {
    case .accepted: text = "accepted"
    case .resynced: text = "accepted (the token was resynchronised)"
    case .wrongCode:
      text = "refused: wrong code (a token that is ahead is resynchronised by its next code)"
    case .replay: text = "refused: this code was already used"
    case .throttled:
      text =
        "refused: too many failures; try again in \(decision.retryAfterSeconds ?? 1) s"
    case .locked:
      text = "refused: the factor is locked after too many failures; an administrator must unlock it"
    case .noFactor: text = "refused: \(user) has no active factor (token or phone app)"
    }
    Output.stderr(text)
  }
  if !decision.isAccepted { throw ExitCode(ExitStatus.refused.rawValue) }
}
