import Foundation
import OTPWire
import TokenFirmware

/// The platform a simulated token runs on: a manual or system clock, a state store, a keyboard
/// buffer, and a switch that cuts the power during the next write. Used only under the token's lock.
final class HostPlatform: TokenPlatform {
  private let store: any StateStore
  private let clock: SimulatedToken.ClockSource
  private let started = ContinuousClock.now
  private var manualMilliseconds: UInt64 = 0
  private var typed: [KeyboardReport] = []
  var cutPowerOnNextWrite = false
  var powerWasCut = false

  init(store: any StateStore, clock: SimulatedToken.ClockSource) {
    self.store = store
    self.clock = clock
  }

  func uptimeMilliseconds() -> UInt64 {
    switch clock {
    case .manual: return manualMilliseconds
    case .system:
      let elapsed = ContinuousClock.now - started
      return UInt64(elapsed.components.seconds) * 1000
        + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
  }

  func advance(milliseconds: UInt64) { manualMilliseconds += milliseconds }

  func persist(_ state: NonVolatileState) throws {
    if cutPowerOnNextWrite {
      cutPowerOnNextWrite = false
      powerWasCut = true
      if let directory = store as? DirectoryStateStore {
        // Leave a half-written temporary file behind, as a real cut would.
        let bytes = Array((try? JSONEncoder().encode(state)) ?? Data())
        try directory.writeAtomically(bytes, cutAfter: bytes.count / 2)
      }
      throw StateStoreError.powerCut
    }
    try store.save(state)
  }

  func type(_ reports: [KeyboardReport]) { typed += reports }

  /// The reports typed since the last call.
  func takeTyped() -> [KeyboardReport] {
    defer { typed = [] }
    return typed
  }
}
