import BrowserInput
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import NIOHTTP1
import OneTimePassword
import Verifier
import VerifierService

/// The pages of two-step login, served by `otptoken serve` beside the API: the sign-in and its
/// code step, the user's Security page, and the administrators' pages. Server-rendered from
/// Mustache templates, in English and Russian, working without JavaScript.
///
/// Browser sessions live in the verifier's store (``BrowserSessionStore``), so any node answers
/// any request. Cookies are HttpOnly and SameSite=Strict (and Secure with
/// ``Options/secureCookies``); every form carries a CSRF token, the session's or, before sign-in,
/// a double-submitted one. Every password and code goes through the verifier's attempt
/// accounting, the same as over the API.
public struct WebPages: Sendable {
  public struct Options: Sendable {
    /// Members of this group see the administrators' pages.
    public var adminGroup: String
    /// The issuer phone apps show beside the account name.
    public var issuer: String
    /// How long a sign-in lasts without "remember me".
    public var sessionHours: Int
    /// How long "remember me" keeps a browser signed in, at most.
    public var rememberDays: Int
    /// Marks cookies Secure: set when the pages are served over TLS.
    public var secureCookies: Bool

    public init(
      adminGroup: String = "admins", issuer: String = "otptoken", sessionHours: Int = 12,
      rememberDays: Int = 30, secureCookies: Bool = false
    ) {
      self.adminGroup = adminGroup
      self.issuer = issuer
      self.sessionHours = max(1, sessionHours)
      self.rememberDays = max(0, rememberDays)
      self.secureCookies = secureCookies
    }
  }

  let api: VerifierAPI
  let options: Options
  let library: MustacheLibrary
  let texts: [String: Texts]
  let stylesheet: ByteBuffer
  let logger: Logger

  static let sessionCookie = "otp_session"
  static let preSignInCookie = "otp_pre"
  /// The code step must follow the password within this time.
  static let codeStepMilliseconds: Int64 = 5 * 60_000

  public init(api: VerifierAPI, options: Options = Options(), logger: Logger = Logger(label: "otptoken.web"))
    throws
  {
    self.api = api
    self.options = options
    self.logger = logger
    texts = try Texts.load()
    var library = MustacheLibrary()
    for name in [
      "layout", "signin", "code", "security", "phone", "recovery", "app-password", "message", "admin-nav",
      "admin-users", "admin-user", "admin-policy", "admin-audit",
    ] {
      guard
        let url = Bundle.module.url(forResource: name, withExtension: "mustache", subdirectory: "Templates")
      else { throw WebSetupError("the template \(name) is missing from this build") }
      try library.register(String(contentsOf: url, encoding: .utf8), named: name)
    }
    self.library = library
    guard let css = Bundle.module.url(forResource: "style", withExtension: "css", subdirectory: "Static")
    else {
      throw WebSetupError("the stylesheet is missing from this build")
    }
    stylesheet = ByteBuffer(bytes: try Data(contentsOf: css))
  }

  var accounts: Accounts { api.accounts }
  var now: Int64 { accounts.hotp.clock.nowMilliseconds() }

  /// Adds every page to the service's router.
  public func register(on router: Router<ServiceRequestContext>) {
    router.get("/static/style.css") { _, _ in
      Response(
        status: .ok,
        headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
        body: .init(byteBuffer: stylesheet))
    }
    router.get("/") { request, context in
      await visit(request, context) { visit in
        let signedIn = visit.session.map { $0.stage == .signedIn || $0.stage == .enrolOnly } ?? false
        return Self.redirect(signedIn ? "/account" : "/signin")
      }
    }
    registerSignIn(on: router)
    registerSecurity(on: router)
    registerAdmin(on: router)
  }

  // MARK: A visit

  /// One request to a page: the language, the session if any, the form if one was posted.
  struct Visit {
    let request: Request
    let context: ServiceRequestContext
    let texts: Texts
    var session: BrowserSession?
    var isAdmin = false
    var form = Form(fields: [:])
    /// Cookies to set on the answer.
    var cookies: [String] = []

    var source: String { "web@\(context.peer)" }
  }

  /// Runs a page: reads the session and, for a POST, the form and its CSRF token; turns every
  /// error into a page that reveals nothing.
  func visit(
    _ request: Request, _ context: ServiceRequestContext, needs stages: Set<BrowserSession.Stage>? = nil,
    admin: Bool = false, _ body: (inout Visit) async throws -> Response
  ) async -> Response {
    let language = Texts.negotiate(request.headers[.acceptLanguage])
    var visit = Visit(request: request, context: context, texts: texts[language] ?? texts["en"]!)
    do {
      if let id = request.cookies[Self.sessionCookie]?.value {
        let accounts = accounts
        visit.session = try await api.blocking { () throws(VerifierError) in try accounts.session(id: id) }
      }
      if let stages {
        guard let session = visit.session, stages.contains(session.stage) else {
          return Self.redirect(visit.session?.stage == .code ? "/signin/code" : "/signin")
        }
      }
      if let session = visit.session, session.stage == .signedIn || session.stage == .enrolOnly {
        let (accounts, group) = (accounts, options.adminGroup)
        visit.isAdmin = try await api.blocking { () throws(VerifierError) in
          try storeCall { () throws(StoreError) in
            try accounts.store.account(userID: session.userID).groups.contains(group)
          }
        }
      }
      if admin && !(visit.isAdmin && visit.session?.stage == .signedIn) {
        return render("message", visit, ["heading": visit.texts["not_found"], "text": ""], status: .notFound)
      }
      if request.method == .post {
        var request = request
        let bytes = try await request.collectBody(upTo: context.maxUploadSize)
        guard let form = Form(bytes.readableBytesView) else {
          return render(
            "message", visit, ["heading": visit.texts["error_title"], "text": visit.texts["error_text"]],
            status: .badRequest)
        }
        visit.form = form
        // Forms of a session carry its token; the sign-in form, before any session, the one its
        // cookie holds.
        let expected =
          request.uri.path == "/signin"
          ? request.cookies[Self.preSignInCookie]?.value : visit.session?.csrf
        guard let expected, let given = form["csrf"],
          ConstantTime.equals(Array(expected.utf8), Array(given.utf8))
        else {
          return render(
            "message", visit, ["heading": visit.texts["error_title"], "text": visit.texts["form_expired"]],
            status: .forbidden)
        }
      }
      return try await body(&visit)
    } catch {
      let status: HTTPResponse.Status
      switch error {
      case VerifierError.store(.unavailable): status = .serviceUnavailable
      case let error as any HTTPResponseError where error.status == .contentTooLarge:
        status = .contentTooLarge
      default: status = .internalServerError
      }
      if status == .internalServerError {
        logger.error("page failed", metadata: ["path": "\(request.uri.path)", "error": "\(type(of: error))"])
      }
      return render(
        "message", visit, ["heading": visit.texts["error_title"], "text": visit.texts["error_text"]],
        status: status)
    }
  }

  // MARK: Answers

  /// A page from a template, with the texts (`t`) and the signed-in user (`me`).
  func render(
    _ template: String, _ visit: Visit, _ values: [String: Any], status: HTTPResponse.Status = .ok
  ) -> Response {
    var values = values
    values["t"] = visit.texts.strings
    if let session = visit.session, session.stage == .signedIn || session.stage == .enrolOnly {
      values["me"] = ["name": session.userName, "csrf": session.csrf, "admin": visit.isAdmin]
    }
    let html = library.render(values, withTemplate: template) ?? ""
    var headers = Self.pageHeaders
    for cookie in visit.cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
  }

  static let pageHeaders: HTTPFields = [
    .contentType: "text/html; charset=utf-8",
    .cacheControl: "no-store",
    .contentSecurityPolicy:
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    HTTPField.Name("X-Content-Type-Options")!: "nosniff",
    HTTPField.Name("Referrer-Policy")!: "no-referrer",
    .vary: "Accept-Language, Cookie",
  ]

  /// 303 to `location` (a path of this site), setting `cookies`.
  static func redirect(_ location: String, cookies: [String] = []) -> Response {
    var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
    for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
    return Response(status: .seeOther, headers: headers)
  }

  /// A cookie only this site's pages see and no script reads; `maxAge` nil: until the browser closes.
  func cookie(_ name: String, _ value: String, path: String = "/", maxAge: Int?) -> String {
    var text = "\(name)=\(value); Path=\(path); HttpOnly; SameSite=Strict"
    if let maxAge { text += "; Max-Age=\(maxAge)" }
    if options.secureCookies { text += "; Secure" }
    return text
  }

  func clearedCookie(_ name: String, path: String = "/") -> String { cookie(name, "", path: path, maxAge: 0) }

  /// Starts a session of `user` at `stage` and the cookie that carries it.
  func startSession(_ user: String, _ stage: BrowserSession.Stage, remember: Bool = false) async throws
    -> (BrowserSession, String)
  {
    let lifetime: Int64 =
      switch stage {
      case .code, .challenge: Self.codeStepMilliseconds
      case .signedIn, .enrolOnly:
        remember && options.rememberDays > 0
          ? Int64(options.rememberDays) * 86_400_000 : Int64(options.sessionHours) * 3_600_000
      }
    let accounts = accounts
    let (id, session) = try await api.blocking { () throws(VerifierError) in
      try accounts.startSession(user: user, stage: stage, lifetime: lifetime)
    }
    let maxAge = remember && stage == .signedIn ? Int(lifetime / 1000) : nil
    return (session, cookie(Self.sessionCookie, id, maxAge: maxAge))
  }

  /// A date for people, in UTC: 2026-12-31.
  static func day(_ milliseconds: Int64) -> String {
    utc("yyyy-MM-dd").string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
  }

  /// A time for people, in UTC: 2026-12-31 23:59:59 UTC.
  static func time(_ milliseconds: Int64) -> String {
    utc("yyyy-MM-dd HH:mm:ss 'UTC'").string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
  }

  /// A formatter of `format` in UTC, independent of the machine's locale.
  static func utc(_ format: String) -> DateFormatter {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = format
    return formatter
  }
}
