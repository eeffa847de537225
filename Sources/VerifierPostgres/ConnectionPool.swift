import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Verifier

/// Where the PostgreSQL server is and who to log in as.
public struct PostgresLocation: Sendable, CustomStringConvertible {
  public var configuration: PostgresConnection.Configuration
  /// For messages: host and database, never the password.
  public let description: String

  /// Reads `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or with the libpq form
  /// `postgres://USER@/DATABASE?host=/socket/directory` for a Unix socket (port 5432 unless given).
  public init(url text: String) throws(StoreError) {
    guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql"
    else {
      throw .unavailable("not a postgres:// URL")
    }
    let user = url.user ?? "postgres"
    let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
    guard !database.isEmpty else { throw .unavailable("the PostgreSQL URL names no database") }
    let port = url.port ?? 5432
    if let socketDirectory = url.queryItems?.first(where: { $0.name == "host" })?.value,
      socketDirectory.hasPrefix("/")
    {
      configuration = .init(
        unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: url.password,
        database: database)
      description = "PostgreSQL \(database) at \(socketDirectory)"
    } else {
      guard let host = url.host, !host.isEmpty else { throw .unavailable("the PostgreSQL URL names no host") }
      configuration = .init(
        host: host, port: port, username: user, password: url.password, database: database, tls: .disable)
      description = "PostgreSQL \(database) at \(host):\(port)"
    }
    configuration.options.connectTimeout = .seconds(5)
  }
}

/// Connections for callers that block: each caller takes a connection, runs its statements on it
/// (waiting on postgres-nio's futures on the caller's own thread, never on an event loop), and
/// gives it back. A connection that failed is closed and replaced on the next request, so a
/// restarted server is reconnected to without a restart of ours.
final class ConnectionPool: @unchecked Sendable {
  let location: PostgresLocation
  let limit: Int
  private let group: MultiThreadedEventLoopGroup
  private let logger: Logger
  private let condition = NSCondition()
  private var idle: [PostgresConnection] = []
  private var open = 0
  private var nextID = 0
  private var closed = false
  /// Statements prepared on each connection (by connection id, then SQL).
  private var prepared: [Int: [String: PreparedQuery]] = [:]

  init(location: PostgresLocation, limit: Int, logger: Logger) {
    self.location = location
    self.limit = max(1, limit)
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Runs `body` with a connection of its own. Errors are mapped to ``StoreError``.
  func with<T>(_ body: (PostgresConnection) throws -> T) throws(StoreError) -> T {
    let connection = try checkOut()
    do {
      let result = try body(connection)
      checkIn(connection)
      return result
    } catch {
      if connection.isClosed || Self.isConnectionError(error) {
        discard(connection)
      } else {
        checkIn(connection)
      }
      throw map(error)
    }
  }

  /// Runs a hot statement as a prepared statement on `connection`: parsed and planned once per
  /// connection instead of on every call (which cost PostgreSQL more CPU than running it). `sql`
  /// names its parameters' types with casts (`$1::bigint`), since they are bound untyped. Only for
  /// statements whose rows are counted, not read: this API describes the columns as text while
  /// they arrive in binary, so decoding them fails.
  func executeCountingRows(_ sql: String, _ binds: [PostgresData], on connection: PostgresConnection) throws
    -> Int
  {
    condition.lock()
    var statement = prepared[connection.id]?[sql]
    condition.unlock()
    if statement == nil {
      let made = try connection.prepare(query: sql).wait()
      condition.lock()
      prepared[connection.id, default: [:]][sql] = made
      condition.unlock()
      statement = made
    }
    return try statement!.execute(binds).wait().count
  }

  func close() {
    condition.lock()
    closed = true
    let connections = idle
    idle = []
    condition.unlock()
    for connection in connections {
      let closing: EventLoopFuture<Void> = connection.close()
      try? closing.wait()
    }
    try? group.syncShutdownGracefully()
  }

  private func checkOut() throws(StoreError) -> PostgresConnection {
    condition.lock()
    while true {
      if closed {
        condition.unlock()
        throw .unavailable("the store is closed")
      }
      if let connection = idle.popLast() {
        condition.unlock()
        if connection.isClosed {
          discard(connection)
          condition.lock()
          continue
        }
        return connection
      }
      if open < limit {
        open += 1
        nextID += 1
        let id = nextID
        condition.unlock()
        do {
          return try PostgresConnection.connect(
            on: group.next(), configuration: location.configuration, id: id, logger: logger
          ).wait()
        } catch {
          condition.lock()
          open -= 1
          condition.signal()
          condition.unlock()
          throw map(error)
        }
      }
      condition.wait()
    }
  }

  private func checkIn(_ connection: PostgresConnection) {
    condition.lock()
    idle.append(connection)
    condition.signal()
    condition.unlock()
  }

  private func discard(_ connection: PostgresConnection) {
    // The connection must outlive its close (postgres-nio checks that it was closed when freed).
    let closing: EventLoopFuture<Void> = connection.close()
    closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    condition.lock()
    prepared[connection.id] = nil
    open -= 1
    condition.signal()
    condition.unlock()
  }

  /// Whether `error` leaves the connection unusable: anything but our own errors and ordinary
  /// server errors. A server error with a FATAL or PANIC severity, or an SQL state of class 57P
  /// (operator intervention, such as a terminated backend) or 08 (connection), ends the session.
  static func isConnectionError(_ error: any Error) -> Bool {
    guard let error = error as? PSQLError else { return !(error is StoreError) }
    guard error.code == .server else { return true }
    let state = error.serverInfo?[.sqlState] ?? ""
    let severity = error.serverInfo?[.severity] ?? ""
    return state.hasPrefix("57P") || state.hasPrefix("08") || severity == "FATAL" || severity == "PANIC"
  }

  /// A clear error: the SQL state decides conflicts; anything about the connection is
  /// "unavailable", with the server's message but never a query's values.
  func map(_ error: any Error) -> StoreError {
    if let error = error as? StoreError { return error }
    if let error = error as? PSQLError {
      if error.code == .server {
        let state = error.serverInfo?[.sqlState] ?? ""
        let message = error.serverInfo?[.message] ?? "server error"
        if state == "23505" { return .conflict(error.serverInfo?[.detail] ?? "a unique value") }
        if state.hasPrefix("57P") || state.hasPrefix("08") {
          return .unavailable("\(location): \(message)")
        }
        return .unavailable("\(location): \(message) (SQL state \(state))")
      }
      return .unavailable("\(location): \(error.code) (connection lost or refused)")
    }
    if error is PostgresDecodingError { return .corrupt("\(location): a column holds an unexpected type") }
    return .unavailable("\(location): \(error)")
  }
}
