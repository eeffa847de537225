import Foundation

/// Why a PostgreSQL test helper failed.
public struct TestPostgresError: Error, CustomStringConvertible {
  public let description: String
  public init(description: String) { self.description = description }
}

/// The throw-away PostgreSQL server of `make test` (scripts/postgres.sh): every test gets a
/// database of its own.
public enum TestPostgres {
  /// The server's URL, from `OTPTOKEN_TEST_POSTGRES`; nil when no server was started.
  public static var url: String? {
    ProcessInfo.processInfo.environment["OTPTOKEN_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// Creates a new empty database; its name and URL.
  public static func freshDatabase() throws -> (name: String, url: String) {
    guard let url else { throw TestPostgresError(description: "OTPTOKEN_TEST_POSTGRES is not set") }
    let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
    try psql(url, "CREATE DATABASE \(name)")
    return (name, url.replacingDatabase(with: name))
  }

  /// Runs SQL through psql against `url`; what it printed (unaligned, tuples only).
  @discardableResult
  public static func psql(_ url: String, _ sql: String) throws -> String {
    let (status, text) = try run(url, sql)
    guard status == 0 else { throw TestPostgresError(description: "psql failed: \(sql)") }
    return text
  }

  /// Whether psql refuses `sql`.
  public static func refuses(_ url: String, _ sql: String) throws -> Bool { try run(url, sql).status != 0 }

  static func run(_ url: String, _ sql: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Runs a program and waits for it with waitpid: Foundation's Process can miss the exit of a
  /// child whose own children (here the restarted server) live on.
  public static func spawnAndWait(_ arguments: [String]) throws -> Int32 {
    var pid: pid_t = 0
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else {
      throw TestPostgresError(description: "cannot run \(arguments[0])")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
  }
}

/// A PostgreSQL server of one test's own (scripts/postgres.sh), for a test that restarts it:
/// restarting the shared server would cut the connections of every suite running alongside.
public final class PrivateCluster: @unchecked Sendable {
  public let directory: String
  /// The cluster's maintenance database.
  public let url: String

  public init() throws {
    var template = Array("/tmp/otptoken-pg-own.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw TestPostgresError(description: "mkdtemp failed") }
    directory = String(cString: made)
    chmod(directory, 0o755)
    url = "postgres://postgres@/postgres?host=\(directory)"
    try Self.script("start")(directory)
  }

  deinit { try? Self.script("stop")(directory) }

  /// Restarts the server (fast mode): every connection is cut.
  public func restart() throws { try Self.script("restart")(directory) }

  /// Creates a new empty database; its URL.
  public func freshDatabase() throws -> String {
    let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
    try TestPostgres.psql(url, "CREATE DATABASE \(name)")
    return url.replacingDatabase(with: name)
  }

  static func script(_ verb: String) -> (String) throws -> Void {
    { directory in
      var root = URL(fileURLWithPath: #filePath)
      for _ in 0..<3 { root.deleteLastPathComponent() }
      let script = root.appendingPathComponent("scripts/postgres.sh").path
      guard
        try TestPostgres.spawnAndWait([
          "/bin/bash", "-c", "bash '\(script)' \(verb) '\(directory)' >/dev/null",
        ]) == 0
      else { throw TestPostgresError(description: "scripts/postgres.sh \(verb) failed") }
    }
  }
}

extension String {
  /// This postgres:// URL with another database name.
  public func replacingDatabase(with name: String) -> String {
    var components = URLComponents(string: self)!
    components.path = "/" + name
    return components.string!
  }
}
