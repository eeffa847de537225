import Foundation
import Synchronization

/// Makes the refusals that cost the verifier little (an unknown user, a user without factors)
/// take about as long as a wrong code, which is evaluated and stored: the answer is held until the
/// running average duration of recent wrong-code refusals has passed. Holding is a sleep, not work.
final class RefusalPacing: Sendable {
  /// The running average, in nanoseconds; starts at 2 ms, a durable refusal on a quiet machine.
  private let average = Mutex<Double>(2_000_000)

  /// Records how long an evaluated refusal took.
  func evaluated(_ duration: Duration) {
    let nanoseconds =
      Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    average.withLock { $0 = $0 * 0.9 + min(nanoseconds, 1e9) * 0.1 }
  }

  /// How much longer a cheap refusal that has taken `elapsed` should be held.
  func remaining(after elapsed: Duration) -> Duration {
    let target = Duration.nanoseconds(Int64(average.withLock { $0 }))
    return elapsed < target ? target - elapsed : .zero
  }
}
