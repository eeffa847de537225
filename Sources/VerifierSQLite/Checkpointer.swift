import Foundation
import GRDB

/// Copies the write-ahead log back into the database file on a connection and a thread of its own,
/// so that the writer does not stop to do it. SQLite's own checkpoint runs inside the commit that
/// crosses its threshold, and every write queued behind that commit waits for the copy and its
/// flush. A passive checkpoint takes no write lock, so here the writer goes on while it runs.
///
/// The writer keeps SQLite's automatic checkpoint at ``backstopPages`` as a backstop: it fires only
/// if these checkpoints fall behind, and then finds most of the log copied already.
final class Checkpointer: @unchecked Sendable {
  /// The automatic checkpoint threshold for the store's own connections, in pages: ten times
  /// SQLite's default, so that it is seldom reached while this checkpointer keeps up.
  static let backstopPages = 10_000

  private let path: String
  private let writesPerCheckpoint: Int
  private let queue = DispatchQueue(label: "otptoken.sqlite.checkpoint", qos: .utility)
  private let lock = NSLock()
  private var writesSinceCheckpoint = 0
  private var running = false
  private var again = false
  /// Opened on first use, on `queue` only.
  private var connection: DatabaseQueue?
  private var completed = 0

  /// Checkpoints after every `writesPerCheckpoint` committed writes (a verification is one write of
  /// two or three pages).
  init(path: String, writesPerCheckpoint: Int = 500) {
    self.path = path
    self.writesPerCheckpoint = max(1, writesPerCheckpoint)
  }

  /// Counts `writes` just committed; starts a checkpoint once enough have been, or asks the one
  /// running to run again when it ends.
  func committed(writes: Int) {
    lock.lock()
    writesSinceCheckpoint += writes
    guard writesSinceCheckpoint >= writesPerCheckpoint else { return lock.unlock() }
    writesSinceCheckpoint = 0
    if running {
      again = true
      return lock.unlock()
    }
    running = true
    lock.unlock()
    queue.async { self.run() }
  }

  private func run() {
    while true {
      checkpoint()
      lock.lock()
      completed += 1
      guard again else {
        running = false
        return lock.unlock()
      }
      again = false
      lock.unlock()
    }
  }

  /// One passive checkpoint. A failure (another process checkpointing, the file unreadable) leaves
  /// the log for the next checkpoint, or for the writer's backstop; the writes are in the log
  /// either way.
  private func checkpoint() {
    do {
      if connection == nil {
        var configuration = Configuration()
        configuration.busyMode = .timeout(1)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        connection = try DatabaseQueue(path: path, configuration: configuration)
      }
      _ = try connection?.writeWithoutTransaction { db in try db.checkpoint(.passive) }
    } catch {
      connection = nil
    }
  }

  /// Waits until no checkpoint is running or asked for; how many have completed so far. For tests.
  func waitUntilIdle() -> Int {
    while true {
      queue.sync {}
      lock.lock()
      defer { lock.unlock() }
      if !running { return completed }
    }
  }
}
