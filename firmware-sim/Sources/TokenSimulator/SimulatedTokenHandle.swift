import Foundation
import OTPWire

/// One open handle on a simulated token, like an open /dev/hidraw file: feature reports go to the
/// token, and every input report typed while the handle is open queues here.
public final class SimulatedTokenHandle: @unchecked Sendable {
  private let token: SimulatedToken
  private let id: Int
  private let condition = NSCondition()
  private var queue: [KeyboardReport] = []
  private var isClosed = false

  init(token: SimulatedToken, id: Int) {
    self.token = token
    self.id = id
  }

  public func setFeatureReport(_ report: FeatureReport) { token.setFeatureReport(report) }
  public func getFeatureReport() -> FeatureReport { token.getFeatureReport() }

  func deliver(_ reports: [KeyboardReport]) {
    condition.withLock {
      guard !isClosed else { return }
      queue += reports
      condition.broadcast()
    }
  }

  /// The next input report, waiting up to `timeoutMilliseconds` (real time) for one.
  public func readInput(timeoutMilliseconds: Int) -> KeyboardReport? {
    condition.withLock {
      let deadline = Date(timeIntervalSinceNow: Double(max(0, timeoutMilliseconds)) / 1000)
      while queue.isEmpty && !isClosed {
        if !condition.wait(until: deadline) { break }
      }
      return queue.isEmpty ? nil : queue.removeFirst()
    }
  }

  /// Closes the handle; it receives nothing more.
  public func close() {
    condition.withLock {
      isClosed = true
      queue = []
      condition.broadcast()
    }
    token.closeHandle(id)
  }
}
