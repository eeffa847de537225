import Foundation
import GRDB

/// Commits concurrent writes together: one transaction and one fsync for every write waiting at
/// that moment, each in its own savepoint, so one write's failure rolls back only that write.
///
/// With synchronous=FULL a commit costs a disk flush (about 0.3 ms here); writes that arrive while
/// one commit is in flight wait and go in the next, so throughput grows with concurrency while each
/// caller still returns only after its write is durable. Leader and followers, no extra thread:
/// the first caller that finds no commit running commits everything pending, then wakes each
/// follower of the batch on its own semaphore (never all waiters at once), and hands the lead to
/// the oldest write still pending.
final class GroupCommit: @unchecked Sendable {
  private final class Job {
    let body: (Database) throws -> Any
    /// Written by the leader before it signals `wake`; nil on wake-up means "lead the next commit".
    var result: Result<Any, any Error>?
    let wake = DispatchSemaphore(value: 0)
    init(_ body: @escaping (Database) throws -> Any) { self.body = body }
  }

  private let pool: DatabasePool
  private let lock = NSLock()
  private var pending: [Job] = []
  private var committing = false
  /// The most writes one transaction takes.
  let maximumBatch = 256

  init(pool: DatabasePool) { self.pool = pool }

  func write<T>(_ body: @escaping (Database) throws -> T) throws -> T {
    let job = Job { try body($0) }
    lock.lock()
    pending.append(job)
    let leads = !committing
    committing = true
    lock.unlock()
    if !leads { job.wake.wait() }
    if job.result == nil { lead(until: job) }
    return try job.result!.get() as! T
  }

  /// Commits batches until `mine` is done, then passes the lead to the oldest pending job, if any.
  private func lead(until mine: Job) {
    while mine.result == nil {
      lock.lock()
      let batch = Array(pending.prefix(maximumBatch))
      pending.removeFirst(batch.count)
      lock.unlock()
      let outcome = commit(batch)
      for (index, item) in batch.enumerated() {
        switch outcome {
        case .success(let results): item.result = results[index]
        case .failure(let error): item.result = .failure(error)
        }
        if item !== mine { item.wake.signal() }
      }
    }
    lock.lock()
    let next = pending.first
    if next == nil { committing = false }
    lock.unlock()
    next?.wake.signal()  // its result is nil: it leads
  }

  private func commit(_ batch: [Job]) -> Result<[Result<Any, any Error>], any Error> {
    // A lone job that throws rolls back the transaction; its error is its own result.
    Result {
      try pool.writeWithoutTransaction { db in
        var results: [Result<Any, any Error>] = []
        try db.inTransaction(.immediate) {
          if batch.count == 1 {
            // Alone in its transaction: a failure rolls the transaction back, no savepoint needed.
            results.append(.success(try batch[0].body(db)))
            return .commit
          }
          for job in batch {
            do {
              var value: Any = ()
              try db.inSavepoint {
                value = try job.body(db)
                return .commit
              }
              results.append(.success(value))
            } catch {
              results.append(.failure(error))
            }
          }
          return .commit
        }
        return results
      }
    }
  }
}
