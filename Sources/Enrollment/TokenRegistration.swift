import OTPWire
import OneTimePassword
import TokenDriver
import Verifier

/// Why a registration did not complete, and what state it left.
public enum RegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The verifier refused it (another user's token, already registered without --replace).
  case refused(String)
  /// The token could not be reached or programmed: nothing was stored.
  case token(DriverError)
  /// The verifier could not be reached: the token may be programmed, nothing counts.
  case verifier(VerifierError)
  /// The token was programmed and stored but no press confirmed it.
  case notConfirmed(serial: String, why: String)

  public var description: String {
    switch self {
    case .refused(let why): return why
    case .token(let error): return "\(error) (nothing was registered)"
    case .verifier(let error):
      return "\(error) (the token may be programmed but does not count: run the command again)"
    case .notConfirmed(let serial, let why):
      return
        "token \(serial) was programmed but not confirmed (\(why)): run `otptoken register` again to start over, or confirm with `otptoken register --confirm CODE`"
    }
  }
}

/// Registers a hardware token to a user: program a fresh secret into a slot, store it, and let the
/// first press confirm it. Nothing is left half-done: a token that was not programmed is never
/// stored, and a stored token counts only once a press has confirmed it.
public struct TokenRegistration: Sendable {
  public let verifier: HOTPVerifier
  public var slot: Slot
  public var digits: Int
  public var pressTimeout: Duration

  public init(
    verifier: HOTPVerifier, slot: Slot = .two, digits: Int = 6, pressTimeout: Duration = .seconds(60)
  ) {
    self.verifier = verifier
    self.slot = slot
    self.digits = digits
    self.pressTimeout = pressTimeout
  }

  /// The steps, for people watching.
  public enum Step: Sendable {
    case found(serial: String)
    case programmed(serial: String)
    case waitingForPress
    case pressed(tokenID: String)
  }

  /// What a completed registration did.
  public struct Outcome: Sendable {
    public var serial: String
    public var user: String
    /// The counter of the confirming press.
    public var counter: UInt64?
  }

  /// Programs, stores and confirms. `code` stands in for the press (the code the token typed).
  public func register(
    user: String, session: TokenSession, replace: Bool = false, code: String? = nil, source: String? = nil,
    progress: (Step) -> Void = { _ in }
  ) throws(RegistrationError) -> Outcome {
    let serial: String
    do { serial = String(try session.serial()) } catch { throw .token(error) }
    progress(.found(serial: serial))
    do { try verifier.checkRegistration(serial: serial, user: user, replace: replace) } catch {
      throw Self.classify(error)
    }
    let secret = OTPSecret.random(count: HOTPSlotSettings.keySize)
    do {
      try session.programHOTP(slot: slot, settings: HOTPSlotSettings(key: secret.bytes, digits: digits))
      // Presses before this point typed codes of the old secret: they cannot confirm anything.
      try session.discardPendingInput()
    } catch { throw .token(error) }
    progress(.programmed(serial: serial))
    do {
      try verifier.storeRegistration(
        serial: serial, user: user, secret: secret, digits: digits, counter: 0, replace: replace,
        source: source)
    } catch { throw Self.classify(error) }
    let typed: String
    if let code {
      typed = code
    } else {
      progress(.waitingForPress)
      do {
        let reading = try session.waitForPress(timeout: pressTimeout, digits: digits)
        progress(.pressed(tokenID: reading.tokenID))
        typed = reading.code.text
      } catch { throw .notConfirmed(serial: serial, why: error.description) }
    }
    return try confirm(serial: serial, user: user, code: typed, source: source)
  }

  /// Confirms a stored registration with a code of the token.
  public func confirm(serial: String, user: String, code: String, source: String? = nil)
    throws(RegistrationError)
    -> Outcome
  {
    let decision: Decision
    do { decision = try verifier.confirm(serial: serial, user: user, code: code, source: source) } catch {
      throw Self.classify(error)
    }
    guard decision.isAccepted else {
      throw .notConfirmed(
        serial: serial,
        why:
          "the code \(decision.reason == .wrongCode ? "was not the token's next code" : decision.reason.rawValue)"
      )
    }
    return Outcome(serial: serial, user: user, counter: decision.counter)
  }

  static func classify(_ error: VerifierError) -> RegistrationError {
    switch error {
    case .conflict(let why): return .refused(why)
    case .unknownUser(let name):
      return .refused("no user named \"\(name)\": create it with `otptoken user add`")
    case .notFound(let what): return .refused("\(what) not found")
    default: return .verifier(error)
    }
  }
}
