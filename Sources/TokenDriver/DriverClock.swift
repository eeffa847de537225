import Foundation

/// The time source of a token session: polling and touch waits go through it, so tests advance a
/// manual clock instead of sleeping.
public protocol DriverClock: Sendable {
  /// Time on a monotonic clock.
  func now() -> Duration
  /// Waits (blocking the calling thread) for `duration`.
  func sleep(for duration: Duration)
}

/// The system's monotonic clock.
public struct SystemDriverClock: DriverClock {
  private let origin = ContinuousClock.now
  public init() {}
  public func now() -> Duration { ContinuousClock.now - origin }
  public func sleep(for duration: Duration) {
    let c = duration.components
    let micros = c.seconds * 1_000_000 + c.attoseconds / 1_000_000_000_000
    if micros > 0 { usleep(UInt32(clamping: micros)) }
  }
}

/// A clock that moves only when slept on: every sleep advances it at once and is recorded.
public final class ManualDriverClock: DriverClock, @unchecked Sendable {
  private let lock = NSLock()
  private var current: Duration = .zero
  private var log: [Duration] = []
  public init() {}
  public func now() -> Duration { lock.withLock { current } }
  public func sleep(for duration: Duration) {
    lock.withLock {
      current += duration
      log.append(duration)
    }
  }
  /// Moves the clock without recording a sleep.
  public func advance(by duration: Duration) { lock.withLock { current += duration } }
  /// Every sleep so far.
  public var sleeps: [Duration] { lock.withLock { log } }
}
