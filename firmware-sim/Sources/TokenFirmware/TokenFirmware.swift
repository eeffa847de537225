import Crypto
import Foundation
import OTPWire
import OneTimePassword

/// The token firmware: a pure state machine fed feature reports and button presses.
///
/// It implements the OTP HID protocol as real tokens answer it: frames assembled from written
/// reports, executed on the last one; answers as response slices; every accepted change bumps the
/// programming sequence and every refusal (bad CRC, wrong access code, unknown or invalid command)
/// leaves it unchanged, which is the only way hosts learn of a refusal. Not thread-safe: callers
/// serialise access (the simulator front ends do).
///
/// Choices where public sources are silent, kept here so they can be found:
/// - The first press of an OATH-HOTP slot uses the initial moving factor itself (as pico-fido does
///   and as Yubico tools tell users to seed servers).
/// - In numeric token-ID mode a nibble above 9 is typed as its modhex letter: the token's scan map
///   has no other letters.
/// - The programming sequence wraps from 255 to 1 while a slot is programmed (0 means "empty").
/// - Yubico OTP, static and Yubico challenge-response slots can be programmed but type nothing and
///   answer nothing: the simulator implements OATH-HOTP and HMAC-SHA1 challenge-response.
/// - Delays (APPEND_DELAY*) and pacing flags change timing only, never the reports typed.
public final class TokenFirmware {
  /// Seconds a challenge-response slot waits for a touch (ykdef DEFAULT_CHAL_TIMEOUT).
  public static let touchTimeoutSeconds = 15

  public let identity: TokenIdentity
  public private(set) var state: NonVolatileState
  private let platform: any TokenPlatform
  private var assembler = FrameAssembler()
  private var outgoing: [FeatureReport] = []
  private var pendingTouch: PendingTouch?

  private struct PendingTouch {
    var response: [UInt8]
    var deadline: UInt64
  }

  /// What pressing the button did.
  public enum PressOutcome: Equatable, Sendable {
    /// The slot typed a code; the counter moved durably before the first key went out.
    case typed(counter: UInt64)
    /// A challenge waiting for a touch was answered.
    case answeredChallenge
    /// The slot is empty or of a kind that types nothing here.
    case nothing
    /// The counter could not be stored, so nothing was typed.
    case storageFailed
  }

  /// Starts the firmware on the state read from non-volatile memory.
  public init(identity: TokenIdentity = .yubiKey5, state: NonVolatileState, platform: any TokenPlatform) {
    self.identity = identity
    self.state = state
    self.platform = platform
  }

  // MARK: HID feature reports

  /// The host wrote a feature report (SET_REPORT).
  public func setFeatureReport(_ report: FeatureReport) {
    switch assembler.feed(report) {
    case .reset:
      outgoing = []
      pendingTouch = nil
    case .frame(let frame):
      outgoing = []
      pendingTouch = nil
      execute(frame)
    case .stored, .ignored:
      break
    }
  }

  /// The host read a feature report (GET_REPORT): the next response slice, the touch-wait status,
  /// or the plain status.
  public func getFeatureReport() -> FeatureReport {
    if !outgoing.isEmpty { return outgoing.removeFirst() }
    var flags: ReportFlags = []
    if let touch = pendingTouch {
      let now = platform.uptimeMilliseconds()
      if now >= touch.deadline {
        pendingTouch = nil
      } else {
        let secondsLeft = UInt8(min(31, (touch.deadline - now + 999) / 1000))
        flags = ReportFlags(rawValue: ReportFlags.touchWait.rawValue | secondsLeft)
      }
    }
    return statusReport(flags: flags).report
  }

  /// The status the token reports while idle.
  public func statusReport(flags: ReportFlags = []) -> StatusReport {
    var config: ConfigState = []
    for slot in Slot.allCases {
      guard let stored = state[slot] else { continue }
      config.insert(slot == .one ? .slot1Valid : .slot2Valid)
      let configuration = stored.configuration
      let isChallenge =
        configuration.mode == .challengeResponseHMAC || configuration.mode == .challengeResponseYubico
      if !isChallenge || configuration.configFlags.contains(.challengeButtonTrigger) {
        config.insert(slot == .one ? .slot1Touch : .slot2Touch)
      }
    }
    return StatusReport(
      version: identity.version, programmingSequence: state.programmingSequence,
      configState: config, flags: flags)
  }

  /// The device information page the token answers command 0x13 with.
  public var deviceInfo: DeviceInfo {
    DeviceInfo(
      serial: state.serial, version: identity.version, formFactor: 1,
      supportedCapabilities: .otp, enabledCapabilities: .otp)
  }

  // MARK: Commands

  private func execute(_ frame: Frame) {
    guard frame.hasValidCRC else { return }
    let payload = frame.payload
    switch frame.command {
    case .configure1: configure(.one, payload)
    case .configure2: configure(.two, payload)
    case .update1: update(.one, payload)
    case .update2: update(.two, payload)
    case .swap: swap()
    case .deviceSerial: respond(SerialNumber.bytes(state.serial))
    case .deviceInfo: respond(payload[0] == 0 ? deviceInfo.pageBytes : [0])
    case .challengeHMAC1: challengeHMAC(.one, payload)
    case .challengeHMAC2: challengeHMAC(.two, payload)
    default: break  // unknown or unsupported: refused, nothing changes
    }
  }

  private func respond(_ data: [UInt8]) {
    outgoing = ResponseEncoder.reports(for: data)
  }

  private func currentAccessCode(_ payload: [UInt8]) -> AccessCode {
    // Six bytes after the 52-byte configuration; the payload is always 64 bytes.
    try! AccessCode(bytes: Array(payload[52..<58]))
  }

  /// Whether the supplied access code opens a slot (a slot without a code opens to anything).
  private func mayWrite(_ slot: Slot, _ supplied: AccessCode) -> Bool {
    guard let stored = state[slot], !stored.configuration.accessCode.isNone else { return true }
    return stored.configuration.accessCode.matches(supplied)
  }

  /// PROTECT_CFG2 on slot 1: slot 2 may only be rewritten if it is programmed with the bit too.
  private func isProtected(_ slot: Slot) -> Bool {
    guard slot == .two, let one = state.slot1, one.configuration.ticketFlags.contains(.protectConfig2)
    else { return false }
    return !(state.slot2?.configuration.ticketFlags.contains(.protectConfig2) ?? false)
  }

  private func configure(_ slot: Slot, _ payload: [UInt8]) {
    guard let configuration = try? SlotConfiguration(bytes: payload[0..<52]) else { return }
    guard configuration.reserved == 0, mayWrite(slot, currentAccessCode(payload)), !isProtected(slot)
    else { return }
    var next = state
    if configuration.isEmpty {
      next[slot] = nil
    } else {
      let counter = HOTPSlotSettings(configuration).map { UInt64($0.initialMovingFactor) } ?? 0
      next[slot] = StoredSlot(configuration: configuration, counter: counter)
    }
    commit(next)
  }

  private func update(_ slot: Slot, _ payload: [UInt8]) {
    guard let stored = state[slot],
      stored.configuration.extFlags.contains(.allowUpdate)
        || stored.configuration.extFlags.contains(.dormant),
      let sent = try? SlotConfiguration(bytes: payload[0..<52]), !sent.isEmpty, sent.reserved == 0,
      mayWrite(slot, currentAccessCode(payload)), !isProtected(slot)
    else { return }
    var merged = stored.configuration
    func merge(_ old: UInt8, _ new: UInt8, _ mask: UInt8) -> UInt8 { old & ~mask | new & mask }
    merged.extFlags = ExtendedFlags(
      rawValue: merge(merged.extFlags.rawValue, sent.extFlags.rawValue, ExtendedFlags.updateMask))
    merged.ticketFlags = TicketFlags(
      rawValue: merge(merged.ticketFlags.rawValue, sent.ticketFlags.rawValue, TicketFlags.updateMask))
    merged.configFlags = ConfigFlags(
      rawValue: merge(merged.configFlags.rawValue, sent.configFlags.rawValue, ConfigFlags.updateMask))
    merged.accessCode = sent.accessCode
    var next = state
    next[slot] = StoredSlot(configuration: merged, counter: stored.counter)
    commit(next)
  }

  private func swap() {
    var next = state
    (next.slot1, next.slot2) = (state.slot2, state.slot1)
    commit(next)
  }

  /// Stores a changed state with the next programming sequence; nothing changes if it fails.
  private func commit(_ changed: NonVolatileState) {
    var next = changed
    if next.slot1 == nil && next.slot2 == nil {
      next.programmingSequence = 0
    } else {
      next.programmingSequence = state.programmingSequence == 255 ? 1 : state.programmingSequence + 1
    }
    do {
      try platform.persist(next)
      state = next
    } catch {
      // Power lost during the write: the old state stays in force.
    }
  }

  private func challengeHMAC(_ slot: Slot, _ payload: [UInt8]) {
    guard let stored = state[slot], stored.configuration.mode == .challengeResponseHMAC else { return }
    let configuration = stored.configuration
    var challenge = payload
    if configuration.configFlags.contains(.hmacLessThan64), let last = challenge.last {
      while challenge.count > 0 && challenge.last == last { challenge.removeLast() }
    }
    let key = SymmetricKey(data: configuration.key + configuration.uid[0..<4])
    let response = Array(HMAC<Insecure.SHA1>.authenticationCode(for: challenge, using: key))
    if configuration.configFlags.contains(.challengeButtonTrigger) {
      let deadline = platform.uptimeMilliseconds() + UInt64(Self.touchTimeoutSeconds) * 1000
      pendingTouch = PendingTouch(response: response, deadline: deadline)
    } else {
      respond(response)
    }
  }

  // MARK: The button

  /// The button was pressed long enough to trigger `slot`.
  @discardableResult
  public func press(_ slot: Slot) -> PressOutcome {
    if let touch = pendingTouch {
      pendingTouch = nil
      if platform.uptimeMilliseconds() < touch.deadline {
        respond(touch.response)
        return .answeredChallenge
      }
    }
    guard let stored = state[slot], let settings = HOTPSlotSettings(stored.configuration),
      let generator = try? HOTPGenerator(secret: OTPSecret(bytes: settings.key), digits: settings.digits)
    else { return .nothing }
    let counter = stored.counter
    var next = state
    next[slot]?.counter = counter &+ 1
    // The counter is durable before the code leaves: a power cut can lose a code, never repeat one.
    do { try platform.persist(next) } catch { return .storageFailed }
    state = next
    let code = generator.code(counter: counter)
    let keypad = stored.configuration.extFlags.contains(.useNumericKeypad)
    let text = Self.typedText(
      settings: settings, ticketFlags: stored.configuration.ticketFlags, code: code.text)
    // typedText only produces characters the keyboard map has.
    platform.type(try! Keyboard.reports(typing: text, keypadDigits: keypad))
    return .typed(counter: counter)
  }

  /// The characters an OATH-HOTP slot types: [TAB] [token ID] [TAB] code [TAB] [Enter].
  static func typedText(settings: HOTPSlotSettings, ticketFlags: TicketFlags, code: String) -> String {
    var text = ""
    if ticketFlags.contains(.tabFirst) { text += "\t" }
    let id = settings.tokenID
    let modhexCount = settings.tokenIDEncoding.modhexPrefixLength(of: id.count)
    text += Modhex.encode(id[0..<modhexCount])
    for byte in id[modhexCount...] {
      for nibble in [byte >> 4, byte & 0x0F] {
        text.append(nibble < 10 ? Character(String(nibble)) : Modhex.alphabet[Int(nibble)])
      }
    }
    if ticketFlags.contains(.appendTab1) { text += "\t" }
    text += code
    if ticketFlags.contains(.appendTab2) { text += "\t" }
    if ticketFlags.contains(.appendCR) { text += "\r" }
    return text
  }
}
