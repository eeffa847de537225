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

/// Connections for the store's callers: those that block (each leases a connection, runs its
/// statements on it waiting on postgres-nio's futures on its own thread, never on an event loop,
/// and gives it back) and those that chain futures on the connection's event loop. Callers queue
/// for connections in one line, first come first served. A connection that failed is closed and
/// replaced on the next request, so a restarted server is reconnected to without a restart of ours.
///
/// Every request goes out through ``send(on:_:)``, which refuses a closed connection: postgres-nio
/// drops a request written to a closed connection without ever answering it. Every call also has
/// one deadline, `callTimeout` after it starts, for its wait in the line and every answer it waits
/// for. Past it the caller gets "unavailable" whatever the connection does (a server that stopped
/// answering, a network that drops packets), and the connection is closed and replaced, never
/// reused.
final class ConnectionPool: @unchecked Sendable {
  let location: PostgresLocation
  let limit: Int
  let callTimeout: TimeAmount
  let logger: Logger
  private let group: MultiThreadedEventLoopGroup
  private let lock = NSLock()
  private var idle: [PostgresConnection] = []
  /// Callers waiting for a connection, oldest first.
  private var waiting: [EventLoopPromise<PostgresConnection>] = []
  /// Connections open or being opened.
  private var open = 0
  private var nextID = 0
  private var closed = false
  /// Statements prepared on each connection (by connection id, then SQL).
  private var prepared: [Int: [String: PreparedQuery]] = [:]

  init(location: PostgresLocation, limit: Int, callTimeout: Duration, logger: Logger) {
    self.location = location
    self.limit = max(1, limit)
    let (seconds, attoseconds) = callTimeout.components
    self.callTimeout = .nanoseconds(max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// The pool's event loop, where its connections' futures complete.
  var eventLoop: any EventLoop { group.next() }

  /// A connection lent to one blocking caller, whose every wait ends by the call's deadline.
  struct Lease {
    let connection: PostgresConnection
    let deadline: NIODeadline
    let pool: ConnectionPool

    /// Waits for `future`, at most until the deadline.
    func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
      try pool.bounded(future, until: deadline).wait()
    }

    @discardableResult
    func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
      try wait(pool.query(query, on: connection))
    }

    /// See ``ConnectionPool/executePrepared(_:_:on:)``.
    func executePrepared(_ sql: String, _ binds: [PostgresData]) throws -> [PreparedRow] {
      try wait(pool.executePrepared(sql, binds, on: connection))
    }

    /// Returns once everything sent before is committed (see ``ConnectionPool/committed(on:)``).
    func committed() throws { try wait(pool.committed(on: connection)) }
  }

  /// Runs `body` with a connection of its own, blocking the calling thread (never call it on an
  /// event loop). Errors are mapped to ``StoreError``.
  func with<T>(_ body: (Lease) throws -> T) throws(StoreError) -> T {
    let deadline = NIODeadline.now() + callTimeout
    let connection: PostgresConnection
    do { connection = try checkOut(until: deadline).wait() } catch { throw map(error) }
    do {
      let result = try body(Lease(connection: connection, deadline: deadline, pool: self))
      checkIn(connection)
      return result
    } catch {
      giveBack(connection, after: error)
      throw map(error)
    }
  }

  /// Runs `body` with a connection of its own without blocking: `body` chains its statements as
  /// futures on the connection's event loop, and the connection goes back when its future ends or
  /// the deadline passes, whichever is first. Errors are left as they are (``map(_:)`` them,
  /// letting the caller's own errors through).
  func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) -> EventLoopFuture<T>)
    -> EventLoopFuture<T>
  {
    let deadline = NIODeadline.now() + callTimeout
    return checkOut(until: deadline).flatMap { connection in
      self.bounded(body(connection), until: deadline).always { result in
        switch result {
        case .success: self.checkIn(connection)
        case .failure(let error): self.giveBack(connection, after: error)
        }
      }
    }
  }

  /// `future`'s result, or ``CallTimedOut`` once `deadline` passes (a later result is dropped).
  func bounded<T: Sendable>(_ future: EventLoopFuture<T>, until deadline: NIODeadline) -> EventLoopFuture<T> {
    let answer = future.eventLoop.makePromise(of: T.self)
    let limit = CallTimedOut(seconds: callTimeout.nanoseconds / 1_000_000_000)
    let timer = future.eventLoop.scheduleTask(deadline: deadline) { answer.fail(limit) }
    future.whenComplete { result in
      timer.cancel()
      answer.completeWith(result)
    }
    return answer.futureResult
  }

  /// A call did not end within ``callTimeout``: its connection is treated as lost.
  struct CallTimedOut: Error, CustomStringConvertible {
    let seconds: Int64
    var description: String { "no answer within the call's time limit of \(seconds) s" }
  }

  /// A request was not sent: its connection had closed.
  struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the connection had closed before the request was sent" }
  }

  /// The request `request` makes, made on `connection`'s event loop, or ``ConnectionClosed`` at
  /// once if the connection has closed by then. postgres-nio writes a request to its channel
  /// without a promise, so one written after the channel closed is dropped and never answered:
  /// after the server went away, or after postgres-nio closed the connection itself on an error
  /// that came behind a statement's CommandComplete (a failed commit). On the loop, a channel that
  /// is still open takes the write, and postgres-nio answers or fails the request.
  func send<T: Sendable>(
    on connection: PostgresConnection, _ request: @escaping @Sendable () -> EventLoopFuture<T>
  ) -> EventLoopFuture<T> {
    let loop = connection.eventLoop
    let attempt: @Sendable () -> EventLoopFuture<T> = {
      connection.isClosed ? loop.makeFailedFuture(ConnectionClosed()) : request()
    }
    return loop.inEventLoop ? attempt() : loop.flatSubmit(attempt)
  }

  /// `query` run on `connection` (see ``send(on:_:)``).
  func query(_ query: PostgresQuery, on connection: PostgresConnection)
    -> EventLoopFuture<PostgresQueryResult>
  {
    send(on: connection) { connection.query(query, logger: self.logger) }
  }

  /// Resolves once `connection` has answered everything sent on it before. postgres-nio completes
  /// a statement at its CommandComplete, which PostgreSQL sends before it commits a statement run
  /// outside a transaction block; should the commit fail or the server stop in between (a fast
  /// shutdown), the change is rolled back while the caller was told it was made. The empty query
  /// is answered only after that commit, so once it is, every statement before it is committed.
  /// A failed commit makes postgres-nio close the connection, which fails the empty query.
  func committed(on connection: PostgresConnection) -> EventLoopFuture<Void> {
    query("", on: connection).map { _ in }
  }

  /// Runs a hot statement as a prepared statement on `connection`: parsed and planned once per
  /// connection instead of on every call (which cost PostgreSQL more CPU than running it). `sql`
  /// names its parameters' types with casts (`$1::bigint`), since they are bound untyped. Read the
  /// rows through ``PreparedRow``: this API describes the columns as text while they arrive in
  /// binary.
  func executePrepared(_ sql: String, _ binds: [PostgresData], on connection: PostgresConnection)
    -> EventLoopFuture<[PreparedRow]>
  {
    lock.lock()
    let statement = prepared[connection.id]?[sql]
    lock.unlock()
    let ready =
      statement.map { connection.eventLoop.makeSucceededFuture($0) }
      ?? send(on: connection) { connection.prepare(query: sql) }.map { made in
        self.lock.lock()
        self.prepared[connection.id, default: [:]][sql] = made
        self.lock.unlock()
        return made
      }
    return ready.flatMap { made in self.send(on: connection) { made.execute(binds) } }.map { rows in
      rows.map { PreparedRow(row: $0.makeRandomAccess()) }
    }
  }

  /// Closes the idle connections and stops the pool's thread; waits for both unless called on that
  /// thread (the store's last reference can go with a finished job's closures there), where it
  /// only starts them.
  func close() {
    lock.lock()
    closed = true
    let connections = idle
    let waiters = waiting
    idle = []
    waiting = []
    lock.unlock()
    for waiter in waiters { waiter.fail(StoreError.unavailable("the store is closed")) }
    guard !group.next().inEventLoop else {
      for connection in connections { Self.close(connection) }
      group.shutdownGracefully { _ in }
      return
    }
    let deadline = NIODeadline.now() + callTimeout
    for connection in connections {
      let closing: EventLoopFuture<Void> = connection.close()
      _ = try? bounded(closing, until: deadline).wait()
    }
    try? group.syncShutdownGracefully()
  }

  /// ``checkOut()`` waiting at most until `deadline`; a connection that comes later goes back.
  private func checkOut(until deadline: NIODeadline) -> EventLoopFuture<PostgresConnection> {
    let checkout = checkOut()
    return bounded(checkout, until: deadline).flatMapErrorThrowing { error in
      if error is CallTimedOut { checkout.whenSuccess { self.checkIn($0) } }
      throw error
    }
  }

  /// A connection for one caller: an idle one, a new one while under the limit, or else the next
  /// one given back or opened in a freed place.
  private func checkOut() -> EventLoopFuture<PostgresConnection> {
    let loop = group.next()
    lock.lock()
    if closed {
      lock.unlock()
      return loop.makeFailedFuture(StoreError.unavailable("the store is closed"))
    }
    while let connection = idle.popLast() {
      if !connection.isClosed {
        lock.unlock()
        return loop.makeSucceededFuture(connection)
      }
      prepared[connection.id] = nil
      open -= 1
      Self.close(connection)
    }
    if open < limit {
      open += 1
      lock.unlock()
      return connect()
    }
    let promise = loop.makePromise(of: PostgresConnection.self)
    waiting.append(promise)
    lock.unlock()
    return promise.futureResult
  }

  /// Opens a connection in a place already counted in `open`; a failure frees the place.
  private func connect() -> EventLoopFuture<PostgresConnection> {
    lock.lock()
    nextID += 1
    let id = nextID
    lock.unlock()
    return PostgresConnection.connect(
      on: group.next(), configuration: location.configuration, id: id, logger: logger
    )
    .flatMapErrorThrowing { error in
      self.free()
      throw error
    }
  }

  /// A place freed (a connection discarded or never made): the oldest waiter gets a new connection
  /// in it; the waiter after that waits on, so a server that is down fails each waiter once.
  private func free() {
    lock.lock()
    guard !waiting.isEmpty else {
      open -= 1
      lock.unlock()
      return
    }
    let next = waiting.removeFirst()
    lock.unlock()
    connect().cascade(to: next)
  }

  private func checkIn(_ connection: PostgresConnection) {
    lock.lock()
    guard !waiting.isEmpty else {
      idle.append(connection)
      lock.unlock()
      return
    }
    let next = waiting.removeFirst()
    lock.unlock()
    next.succeed(connection)
  }

  /// Gives a connection back after `error`: closed and replaced if the error ended its session.
  private func giveBack(_ connection: PostgresConnection, after error: any Error) {
    guard connection.isClosed || Self.isConnectionError(error) else { return checkIn(connection) }
    if error is CallTimedOut {
      logger.warning(
        "a PostgreSQL call outlasted its time limit; closing its connection",
        metadata: ["seconds": "\(callTimeout.nanoseconds / 1_000_000_000)"])
    }
    Self.close(connection)
    lock.lock()
    prepared[connection.id] = nil
    lock.unlock()
    free()
  }

  private static func close(_ connection: PostgresConnection) {
    // The connection must outlive its close (postgres-nio checks that it was closed when freed).
    let closing: EventLoopFuture<Void> = connection.close()
    closing.whenComplete { _ in withExtendedLifetime(connection) {} }
  }

  /// Whether `error` leaves the connection unusable: anything but our own errors and ordinary
  /// server errors. A server error with a FATAL or PANIC severity, or an SQL state of class 57P
  /// (operator intervention, such as a terminated backend) or 08 (connection), ends the session.
  static func isConnectionError(_ error: any Error) -> Bool {
    if error is StoreError || error is VerifierError || error is PostgresDecodingError { return false }
    guard let error = error as? PSQLError else { return true }
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

/// A row's cells by position: a plain query's row, or a prepared statement's.
protocol PostgresCells {
  subscript(index: Int) -> PostgresCell { get }
}

extension PostgresRandomAccessRow: PostgresCells {}

/// A row of a statement run by ``ConnectionPool/executePrepared(_:_:on:)``. postgres-nio's legacy
/// prepared statements keep the column formats of the statement's description, which are text
/// (a statement's description cannot know them), while the rows are bound to come back binary;
/// each cell is read as what it is.
struct PreparedRow: PostgresCells {
  let row: PostgresRandomAccessRow

  subscript(index: Int) -> PostgresCell {
    var cell = row[index]
    cell.format = .binary
    return cell
  }
}
