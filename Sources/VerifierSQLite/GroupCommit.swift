import Foundation
import GRDB

/// Commits concurrent writes together: one transaction and one fsync for every write waiting at
/// that moment, each in its own savepoint, so one write's failure rolls back only that write.
///
/// With synchronous=FULL a commit costs a disk flush (about 0.3 ms here); writes that arrive while
/// one commit is in flight wait and go in the next, so throughput grows with concurrency while each
/// caller still returns only after its write is durable. Leader and followers: the first blocking
/// caller that finds no commit running commits everything pending, then wakes each follower of the
/// batch on its own semaphore (never all waiters at once), and hands the lead to the oldest write
/// still pending. Callers that must not block (``writeWithoutBlocking(_:)``) are resumed instead of
/// woken; when one of them would lead, a dispatch queue commits until nothing is pending.
final class GroupCommit: @unchecked Sendable {
  private final class Job {
    let body: (Database) throws -> Any
    /// Written before the job's caller is woken or resumed; nil on wake-up means "lead the next
    /// commit".
    var result: Result<Any, any Error>?
    let wake = DispatchSemaphore(value: 0)
    /// For a caller that does not block: called with the result instead of waking `wake`.
    let resume: ((Result<Any, any Error>) -> Void)?
    init(_ body: @escaping (Database) throws -> Any, resume: ((Result<Any, any Error>) -> Void)? = nil) {
      self.body = body
      self.resume = resume
    }
  }

  private let pool: DatabasePool
  private let lock = NSLock()
  private var pending: [Job] = []
  private var committing = false
  /// Leads commits for callers that do not block.
  private let leader = DispatchQueue(label: "otptoken.sqlite.group-commit")
  /// The most writes one transaction takes.
  let maximumBatch = 256

  /// Called after each commit with the number of writes it made durable.
  private let afterCommit: (Int) -> Void

  init(pool: DatabasePool, afterCommit: @escaping (Int) -> Void = { _ in }) {
    self.pool = pool
    self.afterCommit = afterCommit
  }

  /// Writes waiting for a commit; tests use it to know that a batch has formed.
  var pendingCount: Int { lock.withLock { pending.count } }

  func write<T>(_ body: @escaping (Database) throws -> T) throws -> T {
    let job = Job { try body($0) }
    if !enqueue(job) { job.wake.wait() }
    if job.result == nil { lead(until: job) }
    return try job.result!.get() as! T
  }

  /// ``write(_:)`` for a caller that must not block its thread: the caller's task is resumed when
  /// the write is durable.
  func writeWithoutBlocking<T: Sendable>(_ body: @escaping (Database) throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
      let job = Job({ try body($0) }) { result in continuation.resume(with: result.map { $0 as! T }) }
      if enqueue(job) { leader.async { self.lead(until: nil) } }
    }
  }

  /// Adds a job; true if it must lead (no commit was running).
  private func enqueue(_ job: Job) -> Bool {
    lock.lock()
    pending.append(job)
    let leads = !committing
    committing = true
    lock.unlock()
    return leads
  }

  /// Commits batches until `mine` is done (nil: until nothing is pending), then passes the lead to
  /// the oldest pending job, if any.
  private func lead(until mine: Job?) {
    while true {
      lock.lock()
      if mine.map({ $0.result != nil }) ?? pending.isEmpty { break }
      let batch = Array(pending.prefix(maximumBatch))
      pending.removeFirst(batch.count)
      lock.unlock()
      let outcome = commit(batch)
      if case .success = outcome { afterCommit(batch.count) }
      for (index, item) in batch.enumerated() {
        switch outcome {
        case .success(let results): item.result = results[index]
        case .failure(let error): item.result = .failure(error)
        }
        if let resume = item.resume {
          resume(item.result!)
        } else if item !== mine {
          item.wake.signal()
        }
      }
    }
    let next = pending.first
    if next == nil { committing = false }
    lock.unlock()
    guard let next else { return }
    // A blocking caller leads on its own thread (its result is nil); one that does not block, here.
    if next.resume == nil { next.wake.signal() } else { leader.async { self.lead(until: nil) } }
  }

  private func commit(_ batch: [Job]) -> Result<[Result<Any, any Error>], any Error> {
    Result {
      try pool.writeWithoutTransaction { db in
        // The transaction and its savepoints run on statements compiled once: GRDB's inTransaction
        // and inSavepoint parse their SQL on every call, about 5% of an HTTP verification's CPU.
        try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
        do {
          let results = try run(batch, db)
          try db.cachedStatement(sql: "COMMIT").execute()
          return results
        } catch {
          // The first error is the one reported; a ROLLBACK that fails after it changes nothing more.
          try? db.rollback()
          throw error
        }
      }
    }
  }

  /// Runs the jobs inside the open transaction. A lone job that throws rolls back the transaction,
  /// its error its own result; in a batch each job runs in a savepoint, so that one job's failure
  /// undoes only that job.
  private func run(_ batch: [Job], _ db: Database) throws -> [Result<Any, any Error>] {
    if batch.count == 1 { return [.success(try batch[0].body(db))] }
    let (open, release, rollBack) = try (
      db.cachedStatement(sql: "SAVEPOINT job"), db.cachedStatement(sql: "RELEASE SAVEPOINT job"),
      db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT job")
    )
    var results: [Result<Any, any Error>] = []
    results.reserveCapacity(batch.count)
    for job in batch {
      try open.execute()
      let result: Result<Any, any Error>
      do { result = .success(try job.body(db)) } catch {
        try rollBack.execute()
        result = .failure(error)
      }
      try release.execute()
      results.append(result)
    }
    return results
  }
}
