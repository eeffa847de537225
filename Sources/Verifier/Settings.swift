/// Every tunable of the verifier, with defaults chosen against the peers (docs/verifier.md). A
/// deployment changes any of them; the defaults stand otherwise.
public struct VerifierSettings: Sendable, Codable, Equatable {
  /// HOTP look-ahead: candidates `next ..< next + lookAhead` are accepted.
  public var lookAhead = 10
  /// How far ahead auto-resync looks for a refused code followed by the next one (0 or the
  /// look-ahead turns auto-resync off).
  public var syncWindow = 1000
  /// How long a refused code is remembered for auto-resync, in seconds.
  public var resyncExpirySeconds = 300
  /// The window an explicit two-code resync searches.
  public var explicitResyncWindow = 10_000
  /// How far below the next counter a code is recognised (and recorded) as a replay.
  public var replayLookback = 20
  /// Consecutive failures after which attempts are delayed.
  public var throttleAfter = 5
  /// The first delay, in seconds; each further failure doubles it.
  public var throttleBaseSeconds = 1
  /// The longest delay, in seconds.
  public var throttleCapSeconds = 900
  /// Consecutive failures after which the factor is locked until an administrator unlocks it. The
  /// delays carry the defence against guessing; the lock is the backstop, at the ceiling NIST SP
  /// 800-63B allows, so that locking a user out costs an attacker about a day of guessing.
  public var hardLockAfter = 100
  /// TOTP steps accepted on either side of the learned drift.
  public var totpWindow = 1
  /// How far (in steps) a phone's clock may be off: ±60 steps of 30 s is ±30 minutes.
  public var totpMaximumDriftSteps = 60
  /// PBKDF2-SHA256 rounds for account passwords (OWASP's 2023 advice: 600,000).
  public var passwordRounds = 600_000

  public init() {}

  /// The delay imposed after `failures` consecutive failures, in milliseconds (0 if none).
  public func throttleDelayMilliseconds(failures: Int) -> Int64 {
    guard failures >= throttleAfter else { return 0 }
    let doublings = min(failures - throttleAfter, 30)
    let seconds = min(Int64(throttleBaseSeconds) << Int64(doublings), Int64(throttleCapSeconds))
    return seconds * 1000
  }

  /// The consequences of one more failure: the new count, the delay's end (if any), and whether the
  /// hard lock now applies. One rule for hardware tokens, phone apps, passwords and recovery codes.
  public func afterFailure(failures: Int, now: Int64) -> (
    failures: Int, throttledUntil: Int64?, hardLocked: Bool
  ) {
    let count = failures + 1
    let delay = throttleDelayMilliseconds(failures: count)
    return (count, delay > 0 ? now + delay : nil, count >= hardLockAfter)
  }

  /// Refuses settings that would make the verifier unsafe or unusable.
  public func validated() throws(VerifierError) -> VerifierSettings {
    guard (1...100).contains(lookAhead) else { throw .invalidSetting("lookAhead must be 1 to 100") }
    guard syncWindow >= lookAhead, syncWindow <= 100_000 else {
      throw .invalidSetting("syncWindow must be at least lookAhead and at most 100000")
    }
    guard explicitResyncWindow >= lookAhead, explicitResyncWindow <= 1_000_000 else {
      throw .invalidSetting("explicitResyncWindow must be at least lookAhead and at most 1000000")
    }
    guard throttleAfter >= 1, hardLockAfter >= throttleAfter else {
      throw .invalidSetting("throttleAfter must be at least 1 and hardLockAfter at least throttleAfter")
    }
    guard throttleBaseSeconds >= 1, throttleCapSeconds >= throttleBaseSeconds else {
      throw .invalidSetting("throttle delays must be positive and the cap at least the base")
    }
    return self
  }
}
