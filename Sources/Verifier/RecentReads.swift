import Foundation

/// Users' tokens as this process last read or wrote them, so that a verification can decide before
/// it reads and spend one store round trip, the write, instead of two.
///
/// An entry is never trusted. A plan made from it is applied only through
/// ``VerifierStore/applyIfStillNoPhoneApps(_:userNamed:orDecideAgain:)``: a compare-and-set
/// against the version the entry holds, which also requires that the user still has no phone apps.
/// A token moved, reassigned, disabled or deleted by any process since then makes the write fail,
/// and the store reads and decides afresh. Only acceptances are applied this way: a refusal is
/// decided on a fresh read, since a token added elsewhere could accept the code.
final class RecentReads: @unchecked Sendable {
  /// A user and all their tokens (active or not), each at the state and version last seen.
  struct Entry: Sendable {
    let user: UserRecord
    var factors: [HOTPFactorRecord]

    /// Whether a fresh read shows the same tokens at the same versions, so a plan made from this
    /// entry is the plan the fresh read would give.
    func matches(_ user: UserRecord, _ factors: [HOTPFactorRecord]) -> Bool {
      user == self.user
        && factors.elementsEqual(self.factors) { $0.id == $1.id && $0.state.version == $1.state.version }
    }
  }

  private let lock = NSLock()
  private var entries: [String: Entry] = [:]
  /// Above this many users the memory starts over (a few hundred bytes each).
  let capacity: Int

  init(capacity: Int = 100_000) { self.capacity = capacity }

  func entry(_ name: String) -> Entry? { lock.withLock { entries[name] } }

  /// Keeps a fresh read of a user who has no phone apps.
  func remember(_ user: UserRecord, _ factors: [HOTPFactorRecord]) {
    lock.withLock {
      if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
      entries[user.name] = Entry(user: user, factors: factors)
    }
  }

  func forget(_ name: String) { _ = lock.withLock { entries.removeValue(forKey: name) } }

  /// Records a plan whose writes all took effect: each token it moved is now at its new state, one
  /// version on. A token the entry already holds at a later version is left as it is.
  func applied(_ plan: VerificationPlan, user name: String) {
    lock.withLock {
      guard var entry = entries[name] else { return }
      for case .compareAndSet(let id, let expected, var state, _) in plan.writes {
        guard let index = entry.factors.firstIndex(where: { $0.id == id }),
          entry.factors[index].state.version <= expected
        else { continue }
        state.version = expected + 1
        entry.factors[index].state = state
      }
      entries[name] = entry
    }
  }
}
