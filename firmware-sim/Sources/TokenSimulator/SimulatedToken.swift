import Foundation
import OTPWire
import Synchronization
import TokenFirmware

/// A simulated token in this process: the real firmware state machine on a host platform.
///
/// Downstream test suites start one with a given serial and secret, press its button, read what it
/// typed, advance its clock and cut its power in the middle of a write. The driver reaches it
/// through handles (``openHandle()``), each of which receives every input report, as every open
/// hidraw handle does. Safe to use from several threads.
public final class SimulatedToken: Sendable {
  /// Where the clock comes from.
  public enum ClockSource: Sendable {
    /// A clock that moves only by ``advanceClock(by:)``: tests never sleep.
    case manual
    /// The system's monotonic clock (the daemon).
    case system
  }

  private struct Core: ~Copyable {
    var firmware: TokenFirmware
    let platform: HostPlatform
    var handles: [Int: SimulatedTokenHandle] = [:]
    var nextHandle = 0
  }

  private let core: Mutex<Core>
  private let store: any StateStore
  public let identity: TokenIdentity

  /// Starts a token on `store`: the stored state if there is one, else a fresh token with
  /// `serial` (random if nil). Throws if the stored state is unreadable, or if a serial is given
  /// that differs from the stored one.
  public init(
    serial: UInt32? = nil, identity: TokenIdentity = .yubiKey5,
    store: any StateStore = MemoryStateStore(), clock: ClockSource = .manual
  ) throws {
    var state: NonVolatileState
    if let stored = try store.load() {
      if let serial, serial != stored.serial {
        throw StateStoreError.corrupt(
          "the stored token has serial \(stored.serial), not \(serial); use another state folder")
      }
      state = stored
    } else {
      state = .fresh(serial: serial ?? UInt32.random(in: 1_000_000...99_999_999))
      try store.save(state)
    }
    let platform = HostPlatform(store: store, clock: clock)
    let firmware = TokenFirmware(identity: identity, state: state, platform: platform)
    state = firmware.state
    self.store = store
    self.identity = identity
    core = Mutex(Core(firmware: firmware, platform: platform))
  }

  /// A token whose slot is programmed with an OATH-HOTP secret through the real protocol path.
  public static func programmed(
    serial: UInt32 = 12_345_678, slot: Slot = .two, settings: HOTPSlotSettings,
    store: any StateStore = MemoryStateStore()
  ) throws -> SimulatedToken {
    let token = try SimulatedToken(serial: serial, store: store)
    let frame = try Frame(command: .configure(slot), payload: settings.configuration().commandPayload())
    for report in frame.reports { token.setFeatureReport(report) }
    guard token.state[slot] != nil else { throw StateStoreError.io("the token refused the configuration") }
    return token
  }

  // MARK: What a host sees

  /// SET_REPORT of a feature report.
  public func setFeatureReport(_ report: FeatureReport) {
    withFirmware { $0.setFeatureReport(report) }
  }

  /// GET_REPORT of a feature report.
  public func getFeatureReport() -> FeatureReport {
    withFirmware { $0.getFeatureReport() }
  }

  /// Opens a handle that receives every input report typed from now on.
  public func openHandle() -> SimulatedTokenHandle {
    core.withLock { core in
      let handle = SimulatedTokenHandle(token: self, id: core.nextHandle)
      core.handles[core.nextHandle] = handle
      core.nextHandle += 1
      return handle
    }
  }

  func closeHandle(_ id: Int) {
    _ = core.withLock { $0.handles.removeValue(forKey: id) }
  }

  // MARK: Test controls

  /// Presses the button for `slot`; returns the keyboard reports typed (also delivered to every
  /// open handle).
  @discardableResult
  public func press(_ slot: Slot = .two) -> [KeyboardReport] {
    let (reports, receivers) = withCore { core in
      _ = core.firmware.press(slot)
      return (core.platform.takeTyped(), Array(core.handles.values))
    }
    for handle in receivers { handle.deliver(reports) }
    return reports
  }

  /// Presses the button and decodes what the token typed ("755224\r").
  public func pressAndRead(_ slot: Slot = .two) -> String {
    (try? KeyboardDecoder.text(of: press(slot))) ?? ""
  }

  /// Moves the manual clock forward.
  public func advanceClock(by duration: Duration) {
    let millis =
      UInt64(duration.components.seconds) * 1000
      + UInt64(duration.components.attoseconds / 1_000_000_000_000_000)
    core.withLock { $0.platform.advance(milliseconds: millis) }
  }

  /// Makes the next write to non-volatile storage fail as if the power was cut half-way; the token
  /// then restarts from what storage holds.
  public func cutPowerDuringNextWrite() {
    core.withLock { $0.platform.cutPowerOnNextWrite = true }
  }

  /// The non-volatile state as the firmware holds it now.
  public var state: NonVolatileState { core.withLock { $0.firmware.state } }

  /// The serial number.
  public var serial: UInt32 { state.serial }

  /// The counter the next press of `slot` uses, nil if the slot is empty.
  public func counter(_ slot: Slot) -> UInt64? { state[slot]?.counter }

  // MARK: Internals

  private func withFirmware<T>(_ body: (TokenFirmware) -> T) -> T {
    withCore { body($0.firmware) }
  }

  /// Runs `body` under the lock; afterwards, if the power was cut, restarts the firmware from
  /// storage: everything in RAM is lost, as on a real token.
  private func withCore<T>(_ body: (inout Core) -> T) -> T {
    core.withLock { core in
      let result = body(&core)
      if core.platform.powerWasCut {
        core.platform.powerWasCut = false
        if let stored = try? store.load() {
          core.firmware = TokenFirmware(identity: identity, state: stored, platform: core.platform)
        }
      }
      return result
    }
  }
}
