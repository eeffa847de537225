import Foundation
import NIOCore
import PostgresNIO
import Verifier

/// The verifications' compare-and-sets and reads, several to one statement. Under load a node has
/// many verifications waiting on PostgreSQL at once; each single-row statement cost a transaction,
/// a commit and a round trip, more than the row itself. The batcher keeps at most `inFlight`
/// statements running; what arrives meanwhile waits and goes out together, up to ``maxBatch``, as
/// soon as one ends. A lone verification is therefore sent at once, as before.
///
/// Each move in a statement stands alone: its token moves only if its version holds and its user
/// has no phone apps, and its audit line is written exactly when it does. A move that did not
/// apply comes back with its user and tokens as read by the statement, to decide again on; a move
/// of nothing is a verification's first read. A batch
/// holds a token at most once, and its rows are locked in the order of the token ids, so batches
/// from several nodes never deadlock on one another. A failed statement fails each of its moves
/// with its error, having changed nothing.
final class MoveBatcher: @unchecked Sendable {
  /// One compare-and-set with its audit line (nil: nothing to move, only the read), for a user
  /// named in the request.
  struct Move: Sendable {
    struct CompareAndSet: Sendable {
      let factorID: Int64
      let expectedVersion: Int64
      let state: HOTPState
      let audit: AuditEntry
    }
    let compareAndSet: CompareAndSet?
    let userName: String

    var factorID: Int64? { compareAndSet?.factorID }

    init(compareAndSet: CompareAndSet?, userName: String) {
      self.compareAndSet = compareAndSet
      self.userName = userName
    }

    /// A token move (nil: only the read).
    init(
      _ move: (factorID: Int64, expectedVersion: Int64, newState: HOTPState, audit: AuditEntry)?,
      userName: String
    ) {
      self.init(
        compareAndSet: move.map {
          .init(
            factorID: $0.factorID, expectedVersion: $0.expectedVersion, state: $0.newState, audit: $0.audit)
        }, userName: userName)
    }
  }

  /// What became of one move.
  struct Result: Sendable {
    /// The token moved and its audit line was written.
    let moved: Bool
    /// When it did not: the columns of ``PostgresStore/userAndTokens(named:where:)`` from column
    /// ``freshBase`` on (one row of NULLs for an unknown user), in the order of the tokens.
    let fresh: [PreparedRow]
  }

  /// The most moves in one statement.
  static let maxBatch = 16
  /// Where the fresh read's columns start in a result row.
  static let freshBase = 2

  private struct Job {
    let move: Move
    let promise: EventLoopPromise<Result>
  }

  private let pool: ConnectionPool
  private let inFlight: Int
  private let lock = NSLock()
  private var waiting: [Job] = []
  private var running = 0
  private var sent = 0

  init(pool: ConnectionPool, inFlight: Int) {
    self.pool = pool
    self.inFlight = max(1, inFlight)
  }

  /// How many statements have been sent.
  var statements: Int {
    lock.lock()
    defer { lock.unlock() }
    return sent
  }

  /// Applies `move` in the next statement.
  func apply(_ move: Move) -> EventLoopFuture<Result> {
    let promise = pool.eventLoop.makePromise(of: Result.self)
    lock.lock()
    waiting.append(Job(move: move, promise: promise))
    let batch = running < inFlight ? takeBatch() : nil
    lock.unlock()
    if let batch { send(batch) }
    return promise.futureResult
  }

  /// The next batch, oldest first, a token at most once, sorted by token; counted as running.
  /// Call with the lock held.
  private func takeBatch() -> [Job]? {
    guard !waiting.isEmpty else { return nil }
    var batch: [Job] = []
    var rest: [Job] = []
    for job in waiting {
      let repeated = job.move.factorID.map { id in batch.contains { $0.move.factorID == id } } ?? false
      if batch.count < Self.maxBatch && !repeated {
        batch.append(job)
      } else {
        rest.append(job)
      }
    }
    waiting = rest
    running += 1
    batch.sort { ($0.move.factorID ?? -1) < ($1.move.factorID ?? -1) }
    return batch
  }

  /// Runs a batch; as it ends, starts the next one, then answers the batch's callers.
  private func send(_ batch: [Job]) {
    run(batch.map(\.move)).whenComplete { outcome in
      self.lock.lock()
      self.running -= 1
      let next = self.takeBatch()
      self.lock.unlock()
      if let next { self.send(next) }
      switch outcome {
      case .success(let results): for (job, result) in zip(batch, results) { job.promise.succeed(result) }
      case .failure(let error): for job in batch { job.promise.fail(error) }
      }
    }
  }

  /// Applies 1…``maxBatch`` moves of distinct tokens in one statement, on a connection of the
  /// pool's; the results come in the order of `moves`, once the statement is committed if anything
  /// moved.
  func run(_ moves: [Move]) -> EventLoopFuture<[Result]> {
    lock.lock()
    sent += 1
    lock.unlock()
    let pool = pool
    return pool.withConnection { connection in
      pool.executePrepared(Self.statements[moves.count - 1], Self.binds(moves), on: connection)
        .flatMapThrowing { try Self.results($0, count: moves.count) }
        .flatMap { results in
          results.contains(where: \.moved)
            ? pool.committed(on: connection).map { results }
            : connection.eventLoop.makeSucceededFuture(results)
        }
    }
  }

  /// Each move's rows (column 0 is the move's place in the batch).
  private static func results(_ rows: [PreparedRow], count: Int) throws -> [Result] {
    var grouped = [[PreparedRow]](repeating: [], count: count)
    for row in rows {
      let place = Int(try row[0].decode(Int64.self))
      guard grouped.indices.contains(place) else { throw StoreError.corrupt("a batch row out of place") }
      grouped[place].append(row)
    }
    return try grouped.map { rows in
      guard let first = rows.first else { throw StoreError.corrupt("a batch move without a row") }
      return Result(moved: try first[1].decode(Bool.self), fresh: rows)
    }
  }

  // MARK: The statement

  /// Each move's parameters, with their types: the state, the token and version, the audit line,
  /// the user's name.
  private static let columns: [(name: String, type: String)] = [
    ("next_counter", "bigint"), ("failures", "bigint"), ("throttled_until", "bigint"),
    ("hard_locked", "boolean"), ("pending_miss", "bigint"), ("pending_expiry", "bigint"),
    ("id", "bigint"), ("version", "bigint"), ("at", "bigint"), ("audit_user", "text"), ("factor", "text"),
    ("action", "text"), ("result", "text"), ("reason", "text"), ("counter_before", "bigint"),
    ("counter_after", "bigint"), ("source", "text"), ("name", "text"),
  ]

  static func binds(_ moves: [Move]) -> [PostgresData] {
    moves.flatMap { move in
      let change =
        move.compareAndSet.map {
          PostgresStore.compareAndSetBinds($0.factorID, $0.expectedVersion, $0.state, $0.audit)
        } ?? nothingToMove
      return change + [.init(string: move.userName)]
    }
  }

  /// A compare-and-set's parameters all NULL: no token has a NULL id, so nothing moves.
  static let nothingToMove: [PostgresData] = columns.dropLast().map {
    switch $0.type {
    case "boolean": PostgresData(type: .bool)
    case "text": PostgresData(type: .text)
    default: PostgresData(type: .int8)
    }
  }

  /// The statement for 1…``maxBatch`` moves, by count - 1.
  static let statements = (1...maxBatch).map(statement(moves:))

  /// Moves of one statement: a row of `input` each (numbered from 0 in `n`), one UPDATE for the
  /// tokens whose version holds, the audit lines of those that moved, and per move a row saying
  /// whether it moved, followed when it did not by the fresh read of its user (ordered by move,
  /// then token id: column 6). Every part sees the statement's one snapshot.
  static func statement(moves count: Int) -> String {
    let rows = (0..<count).map { move in
      let values = columns.indices.map { "$\(move * columns.count + $0 + 1)::\(columns[$0].type)" }
      return "(\(move)::bigint, " + values.joined(separator: ", ") + ")"
    }
    return """
      WITH input (n, \(columns.map(\.name).joined(separator: ", "))) AS (
        VALUES \(rows.joined(separator: ",\n    "))
      ), moved AS (
        UPDATE hotp_factors h SET next_counter = i.next_counter, failures = i.failures,
          throttled_until = i.throttled_until, hard_locked = i.hard_locked, pending_miss = i.pending_miss,
          pending_expiry = i.pending_expiry, version = h.version + 1
        FROM input i
        WHERE h.id = i.id AND h.version = i.version
          AND NOT EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = h.user_id)
        RETURNING i.n
      ), recorded AS (
        \(PostgresStore.insertAuditColumns)
        SELECT i.at, i.audit_user, i.factor, i.action, i.result, i.reason, i.counter_before, i.counter_after,
          i.source
        FROM input i JOIN moved m ON m.n = i.n ORDER BY i.n
      )
      SELECT i.n, m.n IS NOT NULL, fresh.*
      FROM input i LEFT JOIN moved m ON m.n = i.n
      LEFT JOIN LATERAL (\(PostgresStore.userAndTokens(named: "i.name", where: "AND m.n IS NULL"))) AS fresh ON true
      ORDER BY 1, 6
      """
  }
}
