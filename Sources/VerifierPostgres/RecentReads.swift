import Foundation
import Verifier

/// Users' state as a store last read or wrote it, so a verification can be planned before the read
/// and cost the store one round trip, the write, instead of two: the PostgreSQL store's strategy
/// behind ``VerifierStore/runVerification(_:)`` (SQLite reads in process and keeps none).
///
/// An entry is never trusted. A plan made from it is applied alone only when its one write is a
/// token move (``VerificationPlan/soleTokenMove``), a compare-and-set against the version the entry
/// holds: a token moved, reassigned or deleted since makes the write fail, and the store reads
/// afresh. Any other plan waits for the fresh read, and is reused only if that read shows every row
/// at the version the entry had (``VerificationSnapshot/sameVersions(as:)``), so a refusal never
/// costs its window's HMACs twice.
final class RecentReads: @unchecked Sendable {
  struct Entry {
    let snapshot: VerificationSnapshot
    let parts: SnapshotParts
  }

  private let lock = NSLock()
  private var entries: [String: Entry] = [:]
  /// Above this many users the memory starts over. An entry weighs about 320 bytes, so the
  /// default holds at most about 5 MB however many users the store has: enough for the users
  /// verifying in the same few seconds, which are the ones a remembered read serves.
  let capacity: Int

  init(capacity: Int = 16_384) { self.capacity = capacity }

  /// A plan made from the remembered state, if it covers what `job` reads.
  func plan(_ job: VerificationJob) throws -> RememberedPlan? {
    guard let entry = lock.withLock({ entries[job.userName] }), entry.parts.isSuperset(of: job.reads) else {
      return nil
    }
    return RememberedPlan(snapshot: entry.snapshot, plan: try job.plan(entry.snapshot))
  }

  /// Keeps a fresh read of `parts` of a user.
  func remember(_ snapshot: VerificationSnapshot, parts: SnapshotParts) {
    lock.withLock {
      if entries.count >= capacity && entries[snapshot.user.name] == nil {
        entries.removeAll(keepingCapacity: true)
      }
      entries[snapshot.user.name] = Entry(snapshot: snapshot, parts: parts)
    }
  }

  func forget(_ name: String) { _ = lock.withLock { entries.removeValue(forKey: name) } }

  /// Records a plan whose writes all took effect: each token it moved is now at its new state, one
  /// version on; a plan that moved anything else makes the entry stale, so it is dropped.
  func applied(_ plan: VerificationPlan, user name: String) {
    lock.withLock {
      guard let entry = entries[name] else { return }
      var snapshot = entry.snapshot
      for write in plan.writes {
        switch write {
        case .token(let id, let expected, var state, _):
          guard let index = snapshot.tokens.firstIndex(where: { $0.id == id }),
            snapshot.tokens[index].state.version == expected
          else {
            entries[name] = nil
            return
          }
          state.version = expected + 1
          snapshot.tokens[index].state = state
        case .append: continue
        case .phoneApp, .attempts, .useRecoveryCode:
          entries[name] = nil
          return
        }
      }
      entries[name] = Entry(snapshot: snapshot, parts: entry.parts)
    }
  }
}

/// A plan made from a remembered read, with the read it was made from.
struct RememberedPlan: Sendable {
  let snapshot: VerificationSnapshot
  let plan: VerificationPlan

  /// The plan for a fresh read: this one again if the read shows the same rows at the same versions.
  func reused(for fresh: VerificationSnapshot) -> VerificationPlan? {
    snapshot.sameVersions(as: fresh) ? plan : nil
  }
}
