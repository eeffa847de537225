import Crypto
import Foundation

/// A signed-in (or half signed-in) browser, or another program's challenge, kept server side so
/// any node can answer it. The
/// cookie holds a random id; the store keeps only its SHA-256, so a copy of the database signs no
/// one in.
public struct BrowserSession: Sendable, Equatable {
  /// How far the sign-in has come.
  public enum Stage: String, Sendable {
    /// The password was right; the second step is due.
    case code
    /// Signed in.
    case signedIn = "in"
    /// The password was right, two-step login is mandatory and overdue: only enrolment is open.
    case enrolOnly = "enrol"
    /// A challenge of `/validate/check` or RADIUS: the password was right and its caller is to
    /// send the code with this id. Never a browser's.
    case challenge
  }
  public var idHash: [UInt8]
  public var userID: Int64
  /// Filled in by the store on reads.
  public var userName: String
  public var stage: Stage
  /// The token every form of this session carries.
  public var csrf: String
  public var createdAt: Int64
  public var expiresAt: Int64

  public init(
    idHash: [UInt8], userID: Int64, userName: String, stage: Stage, csrf: String, createdAt: Int64,
    expiresAt: Int64
  ) {
    self.idHash = idHash
    self.userID = userID
    self.userName = userName
    self.stage = stage
    self.csrf = csrf
    self.createdAt = createdAt
    self.expiresAt = expiresAt
  }

  /// A new random session id (32 bytes from the system's CSPRNG, base64url) and its hash.
  public static func newID() -> (id: String, hash: [UInt8]) {
    let id = randomToken()
    return (id, hash(id))
  }

  /// What the store keeps of a session id.
  public static func hash(_ id: String) -> [UInt8] { Array(SHA256.hash(data: Array(id.utf8))) }

  /// 32 random bytes, base64url without padding.
  public static func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
      .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
  }
}

/// Where browser sessions live: the verifier's own database, shared by every node.
public protocol BrowserSessionStore: Sendable {
  /// Stores a new session, dropping sessions that expired before `session.createdAt`.
  func insertSession(_ session: BrowserSession) throws(StoreError)
  /// The live session with this id hash at `now`, with its user's name; nil if none or expired.
  func session(idHash: [UInt8], now: Int64) throws(StoreError) -> BrowserSession?
  /// Ends one session.
  func deleteSession(idHash: [UInt8]) throws(StoreError)
  /// Ends every session of a user (a password change, an administrator's order).
  func deleteSessions(userID: Int64) throws(StoreError)
}

extension Accounts {
  /// Starts a browser session of the user at `stage`, lasting `lifetime` milliseconds, with a fresh
  /// id and CSRF token. The id goes in the cookie; only its hash is stored.
  public func startSession(user name: String, stage: BrowserSession.Stage, lifetime: Int64)
    throws(VerifierError) -> (id: String, session: BrowserSession)
  {
    let user = try hotp.lookUp(name)
    let (id, hash) = BrowserSession.newID()
    let session = BrowserSession(
      idHash: hash, userID: user.id, userName: user.name, stage: stage, csrf: BrowserSession.randomToken(),
      createdAt: now, expiresAt: now + lifetime)
    try storeCall { () throws(StoreError) in try store.insertSession(session) }
    return (id, session)
  }

  /// The live session a cookie's id names, or nil (unknown, expired, or not an id at all).
  public func session(id: String) throws(VerifierError) -> BrowserSession? {
    guard (40...64).contains(id.utf8.count) else { return nil }
    let now = now
    return try storeCall { () throws(StoreError) in
      try store.session(idHash: BrowserSession.hash(id), now: now)
    }
  }

  /// Ends a session wherever it is stored.
  public func endSession(_ session: BrowserSession) throws(VerifierError) {
    try storeCall { () throws(StoreError) in try store.deleteSession(idHash: session.idHash) }
  }
}
