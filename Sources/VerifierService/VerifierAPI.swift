import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import OneTimePassword
import Verifier

/// What a request carries through the service: the caller's address and, once authenticated, its key.
public struct ServiceRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  /// The authenticated application, set for every route that needs a key.
  public var client: ClientKeyRecord?
  /// The TCP peer's address, for per-address rate limits and the audit log's source.
  public let peer: String

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    peer = source.channel.remoteAddress?.ipAddress ?? "local"
  }

  /// Every body this API takes is a small JSON object.
  public var maxUploadSize: Int { 16 * 1024 }
}

/// The verifier over HTTP: verification and the login flow for applications holding a verify key;
/// users, enrolment, resync, factor management and the audit log for admin keys. Every answer is
/// JSON; errors carry a stable code (see `openapi.json`, served at `/openapi.json`).
///
/// The store API blocks, so store calls run on a thread pool of its own, never on the event loops
/// or the cooperative pool. Verification and login are the exception: they are awaited, and the
/// verifier and the stores keep their blocking work off the caller's pool themselves (SQLite's
/// group commit, PostgreSQL's futures and threads, the password hash on a thread of its own).
public struct VerifierAPI: Sendable {
  /// Rate limits: requests a second and burst, per client address and per user (0 turns one off).
  public struct Limits: Sendable {
    public var perAddress: (rate: Double, burst: Double)
    public var perUser: (rate: Double, burst: Double)
    public init(perAddress: (Double, Double) = (1000, 2000), perUser: (Double, Double) = (5, 20)) {
      self.perAddress = perAddress
      self.perUser = perUser
    }
  }

  public let accounts: Accounts
  public let clientKeys: ClientKeys
  public let metrics: ServiceMetrics
  let threads: NIOThreadPool
  let addressLimiter: RateLimiter
  let userLimiter: RateLimiter
  let keyCache: KeyCache
  let logger: Logger
  let pacing = RefusalPacing()
  /// Who may call `/validate/check` (nobody by default).
  let validateAccess: ValidateAccess

  /// `threads` must be started; the caller shuts it down after the server stops.
  public init(
    accounts: Accounts, clientKeys: ClientKeys, threads: NIOThreadPool, limits: Limits = Limits(),
    metrics: ServiceMetrics = ServiceMetrics(), logger: Logger = Logger(label: "otptoken.service"),
    keyCacheSeconds: Double = 1, validateAccess: ValidateAccess = ValidateAccess(),
    monotonicSeconds: @escaping @Sendable () -> Double = {
      Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
  ) {
    self.accounts = accounts
    self.clientKeys = clientKeys
    self.threads = threads
    self.metrics = metrics
    self.logger = logger
    self.validateAccess = validateAccess
    addressLimiter = RateLimiter(
      rate: limits.perAddress.rate, burst: limits.perAddress.burst, now: monotonicSeconds)
    userLimiter = RateLimiter(rate: limits.perUser.rate, burst: limits.perUser.burst, now: monotonicSeconds)
    keyCache = KeyCache(seconds: keyCacheSeconds, now: monotonicSeconds)
  }

  /// One route: who may call it (nil: anyone, no key) and what it does.
  public struct Route: Sendable {
    public let method: HTTPRequest.Method
    /// In OpenAPI's form, `{name}` for a path parameter.
    public let path: String
    public let scope: ClientScope?
    let handler: @Sendable (Request, ServiceRequestContext) async throws -> Response
  }

  /// The router: every route of ``routes``, behind the error and rate-limit middleware.
  public func makeRouter() -> Router<ServiceRequestContext> {
    let router = Router(context: ServiceRequestContext.self)
    router.add(
      middleware: ErrorMiddleware(
        metrics: metrics, logger: logger, allowedMethods: Self.allowedMethods(routes)))
    router.add(middleware: AddressLimitMiddleware(limiter: addressLimiter, metrics: metrics))
    for route in routes {
      router.on(RouterPath(route.path), method: route.method) { request, context in
        var context = context
        if let scope = route.scope { context.client = try await authenticate(request, needing: scope) }
        return try await route.handler(request, context)
      }
    }
    return router
  }

  /// For a path the API has, the methods it takes ("GET, POST"); nil for a path it does not have.
  static func allowedMethods(_ routes: [Route]) -> @Sendable (String) -> String? {
    let patterns = Dictionary(grouping: routes, by: \.path).map { path, taken in
      (
        segments: path.split(separator: "/").map(String.init),
        allow: taken.map(\.method.rawValue).joined(separator: ", ")
      )
    }
    // Every pattern the path fits counts: `/v1/users/a/totp/confirm` is both a POST route and the
    // DELETE route `/v1/users/{user}/totp/{id}`.
    return { path in
      let segments = path.split(separator: "/")
      let methods = patterns.filter { pattern in
        pattern.segments.count == segments.count
          && zip(pattern.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
      }.flatMap { $0.allow.components(separatedBy: ", ") }
      return methods.isEmpty ? nil : Array(Set(methods)).sorted().joined(separator: ", ")
    }
  }

  // MARK: Authentication

  func authenticate(_ request: Request, needing scope: ClientScope) async throws -> ClientKeyRecord {
    // Exactly one Authorization field. (The subscript that joins repeated fields into one string
    // goes through unspecialised generic code, about 1% of a verification's instructions.)
    let fields = request.headers[values: .authorization]
    guard fields.count == 1, fields[0].hasPrefix("Bearer ") else { throw APIError.unauthenticated() }
    let presented = String(fields[0].dropFirst("Bearer ".count))
    let client: ClientKeyRecord
    if let cached = keyCache.lookUp(presented) {
      client = cached
    } else {
      let keys = clientKeys
      guard let checked = try await blocking({ () throws(VerifierError) in try keys.authenticate(presented) })
      else {
        throw APIError.unauthenticated()
      }
      keyCache.store(presented, checked)
      client = checked
    }
    if scope == .admin && client.scope != .admin { throw APIError.forbidden() }
    return client
  }

  // MARK: Helpers

  /// Runs a blocking verifier call on the service's thread pool (never on an event loop or the
  /// cooperative pool).
  public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(VerifierError) -> T) async throws
    -> T
  {
    try await threads.runIfActive { () throws -> T in try body() }
  }

  /// Decodes a JSON body of at most the context's limit.
  static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: ServiceRequestContext)
    async throws -> T
  {
    var request = request
    let buffer = try await request.collectBody(upTo: context.maxUploadSize)
    do { return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView)) } catch let error
      as DecodingError
    {
      throw APIError(.badRequest, "invalid_json", Self.explain(error))
    }
  }

  /// Names the field that was wrong, never echoing its value.
  static func explain(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
      return keys.isEmpty ? "the body" : "'\(keys)'"
    }
    switch error {
    case .keyNotFound(let key, _): return "the field '\(key.stringValue)' is missing"
    case .typeMismatch(_, let context): return "\(path(context)) has the wrong type"
    case .valueNotFound(_, let context): return "\(path(context)) is null"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(context)) is not valid"
    @unknown default: return "the body is not the JSON this route takes"
    }
  }

  static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try JSONEncoder().encode(value)
    return Response(
      status: status, headers: [.contentType: "application/json"],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
  }

  static func noContent() -> Response { Response(status: .noContent) }

  func limitUser(_ name: String) throws {
    if let wait = userLimiter.take(name) {
      metrics.recordRateLimited("user")
      throw APIError(
        .tooManyRequests, "rate_limited", "too many requests for this user",
        retryAfter: Int(wait.rounded(.up)))
    }
  }

  func source(_ context: ServiceRequestContext) -> String {
    "\(context.client?.name ?? "anonymous")@\(context.peer)"
  }
}

/// Turns every error, the framework's included (unknown route, body too large), into a JSON answer
/// with a stable code; an unexpected error is logged and answered as "internal" without details.
struct ErrorMiddleware: RouterMiddleware {
  typealias Context = ServiceRequestContext
  let metrics: ServiceMetrics
  let logger: Logger
  /// The methods a path takes, to answer a known path asked with another method 405, not 404.
  let allowedMethods: @Sendable (String) -> String?

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
    async throws
    -> Response
  {
    let response: Response
    do { response = try await next(request, context) } catch {
      var answer = APIError.from(error)
      // The router's own "no route" (not a handler's "no such user"), for a path that exists.
      if let missing = error as? any HTTPResponseError, !(error is APIError), missing.status == .notFound,
        let allow = allowedMethods(request.uri.path)
      {
        answer = APIError(
          .methodNotAllowed, "method_not_allowed", "\(request.uri.path) takes \(allow)", allow: allow)
      }
      if answer.status == .internalServerError {
        logger.error(
          "request failed", metadata: ["path": "\(request.uri.path)", "error": "\(type(of: error))"])
      }
      response = answer.response
    }
    metrics.recordAnswer(status: response.status.code)
    return response
  }
}

/// Refuses a client address that sends more than its share, before any other work (keys included).
struct AddressLimitMiddleware: RouterMiddleware {
  typealias Context = ServiceRequestContext
  let limiter: RateLimiter
  let metrics: ServiceMetrics

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
    async throws
    -> Response
  {
    if let wait = limiter.take(context.peer) {
      metrics.recordRateLimited("address")
      throw APIError(
        .tooManyRequests, "rate_limited", "too many requests from this address",
        retryAfter: Int(wait.rounded(.up)))
    }
    return try await next(request, context)
  }
}
