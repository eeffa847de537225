import Foundation

/// Why the verifier could not act: a problem of input, configuration or environment.
public enum VerifierError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidSetting(String)
  case keyFile(String)
  case sealing(String)
  case store(StoreError)
  case invalidInput(String)
  case unknownUser(String)
  case notFound(String)
  case conflict(String)

  public var description: String {
    switch self {
    case .invalidSetting(let why): return "invalid setting: \(why)"
    case .keyFile(let why): return "master key file: \(why)"
    case .sealing(let why): return why
    case .store(let error): return error.description
    case .invalidInput(let why): return why
    case .unknownUser(let name): return "no user named \"\(name)\""
    case .notFound(let what): return "\(what) not found"
    case .conflict(let what): return what
    }
  }
}

/// What the verifier decided about a code.
public struct Decision: Sendable, Equatable {
  public enum Reason: String, Sendable, Codable, CaseIterable {
    /// The code was good and is now used up.
    case accepted
    /// Good, after the second code of a two-code resync.
    case resynced
    /// Not a code of this user's factors now.
    case wrongCode = "wrong-code"
    /// A code that was already used.
    case replay
    /// Too many failures: refused unevaluated until the delay ends.
    case throttled
    /// Too many failures: locked until an administrator unlocks it.
    case locked
    /// The user has no active factor of this kind.
    case noFactor = "no-factor"
  }

  public var reason: Reason
  /// The factor that decided, as "hotp:SERIAL".
  public var factor: String?
  /// The counter accepted, for hardware tokens.
  public var counter: UInt64?
  /// For throttled refusals: when to try again (milliseconds from now).
  public var retryAfterMilliseconds: Int64?

  public var isAccepted: Bool { reason == .accepted || reason == .resynced }

  public init(
    reason: Reason, factor: String? = nil, counter: UInt64? = nil, retryAfterMilliseconds: Int64? = nil
  ) {
    self.reason = reason
    self.factor = factor
    self.counter = counter
    self.retryAfterMilliseconds = retryAfterMilliseconds
  }
}

/// A decision as the command line and the HTTP API print it: one shape for both.
public struct DecisionAnswer: Codable, Sendable, Equatable {
  public var user: String
  /// accepted or refused.
  public var result: String
  /// One of ``Decision/Reason``'s raw values.
  public var reason: String
  /// The factor that decided: "hotp:SERIAL", "totp" or "recovery".
  public var factor: String?
  /// The counter accepted, for hardware tokens.
  public var counter: UInt64?
  /// For throttled refusals: whole seconds until the next attempt is evaluated.
  public var retryAfterSeconds: Int64?

  public init(_ decision: Decision, user: String) {
    self.user = user
    result = decision.isAccepted ? "accepted" : "refused"
    reason = decision.reason.rawValue
    factor = decision.factor
    counter = decision.counter
    retryAfterSeconds = decision.retryAfterSeconds
  }
}

extension Decision {
  /// ``retryAfterMilliseconds`` rounded up to whole seconds.
  public var retryAfterSeconds: Int64? { retryAfterMilliseconds.map { ($0 + 999) / 1000 } }
}

/// The verifier's notion of now, injected so tests control time.
public protocol VerifierClock: Sendable {
  /// Milliseconds since 1970.
  func nowMilliseconds() -> Int64
}

/// The system's wall clock.
public struct SystemClock: VerifierClock {
  public init() {}
  public func nowMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
  }
}
