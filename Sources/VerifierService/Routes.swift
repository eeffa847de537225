import Foundation
import Hummingbird
import OneTimePassword
import Verifier

/// Request bodies. Unknown fields are ignored; missing or mistyped ones are a 400 `invalid_json`.
struct VerifyBody: Decodable {
  var user: String
  var code: String
}
struct LoginBody: Decodable {
  var user: String
  var password: String?
  var code: String?
  /// The calling application checked the password itself: only the second step runs.
  var passwordCheckedByCaller: Bool?
  /// A client application signing in with the password and a code asks for an application
  /// password named after it, to use alone from then on.
  var client: String?
}
struct NewUserBody: Decodable {
  var name: String
  var password: String?
}
struct TwoCodesBody: Decodable {
  var serial: String?
  var codes: [String]
}
struct CodeBody: Decodable {
  var code: String
}
struct IssuerBody: Decodable {
  var issuer: String?
}
struct NameBody: Decodable {
  var name: String
}
struct PasswordBody: Decodable {
  var password: String
}
struct DaysBody: Decodable {
  var days: Int
}
struct GroupsBody: Decodable {
  var groups: [String]
}
/// The login policy as the API shows it: `mandatoryFor` is nobody, everyone or group (with `group`);
/// `deadline` is milliseconds since 1970.
struct PolicyBody: Codable {
  var mandatoryFor: String
  var group: String?
  var deadline: Int64?

  init(_ policy: LoginPolicy) {
    switch policy.mandatoryFor {
    case .nobody: mandatoryFor = "nobody"
    case .everyone: mandatoryFor = "everyone"
    case .group(let name): (mandatoryFor, group) = ("group", name)
    }
    deadline = policy.deadline
  }

  var policy: LoginPolicy {
    get throws {
      switch (mandatoryFor, group) {
      case ("nobody", nil): return LoginPolicy(mandatoryFor: .nobody, deadline: deadline)
      case ("everyone", nil): return LoginPolicy(mandatoryFor: .everyone, deadline: deadline)
      case ("group", let name?) where !name.isEmpty && name.count <= 256:
        return LoginPolicy(mandatoryFor: .group(name), deadline: deadline)
      default:
        throw APIError(
          .badRequest, "invalid_input", "mandatoryFor is nobody, everyone, or group with a group name")
      }
    }
  }
}

struct LoginAnswer: Encodable {
  var user: String
  /// allowed, code-required, enrollment-required or refused.
  var outcome: String
  var via: String?
  var deadline: Int64?
  var reason: String?
  /// Issued to a client at its sign-in with the password and a code (shown once).
  var appPassword: IssuedPassword?

  struct IssuedPassword: Encodable {
    var name: String
    var password: String
  }
}

extension VerifierAPI {
  /// Every route of the API; `openapi.json` documents exactly these (a test holds them equal).
  public var routes: [Route] {
    [
      Route(method: .get, path: "/health", scope: nil) { _, _ in try Self.json(["status": "ok"]) },
      Route(method: .get, path: "/ready", scope: nil) { _, _ in try await ready() },
      Route(method: .get, path: "/metrics", scope: nil) { _, _ in
        Response(
          status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
          body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
      },
      Route(method: .get, path: "/openapi.json", scope: nil) { _, _ in
        Response(
          status: .ok, headers: [.contentType: "application/json"],
          body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.openAPIDocument)))
      },
      Route(method: .post, path: "/v1/verify", scope: .verify) { request, context in
        try await verify(request, context)
      },
      Route(method: .post, path: "/v1/login", scope: .verify) { request, context in
        try await login(request, context)
      },
      // privacyIDEA's protocol, for its clients; who may call it is ValidateAccess's, not a scope's.
      Route(method: .post, path: "/validate/check", scope: nil) { request, context in
        try await validateCheck(request, context).0
      },
      Route(method: .get, path: "/validate/check", scope: nil) { request, context in
        try await validateCheck(request, context).0
      },
      Route(method: .post, path: "/validate/radiuscheck", scope: nil) { request, context in
        Response(status: try await validateCheck(request, context).1 ? .noContent : .badRequest)
      },
      Route(method: .get, path: "/validate/radiuscheck", scope: nil) { request, context in
        Response(status: try await validateCheck(request, context).1 ? .noContent : .badRequest)
      },
      Route(method: .get, path: "/v1/users", scope: .admin) { _, _ in
        let accounts = accounts
        let names = try await blocking { () throws(VerifierError) in
          try storeCall { () throws(StoreError) in try accounts.store.users().map(\.name) }
        }
        return try Self.json(["users": names])
      },
      Route(method: .post, path: "/v1/users", scope: .admin) { request, context in
        let body = try await Self.decode(NewUserBody.self, request, context)
        let (accounts, source) = (accounts, source(context))
        try await blocking { () throws(VerifierError) in
          try accounts.createUser(name: body.name, password: body.password, source: source)
        }
        return try Self.json(["user": body.name], status: .created)
      },
      Route(method: .delete, path: "/v1/users/{user}", scope: .admin) { _, context in
        let (accounts, user, source) = (accounts, try Self.pathParameter(context, "user"), source(context))
        try await blocking { () throws(VerifierError) in try accounts.deleteUser(name: user, source: source) }
        return Self.noContent()
      },
      Route(method: .put, path: "/v1/users/{user}/password", scope: .admin) { request, context in
        let body = try await Self.decode(PasswordBody.self, request, context)
        let (accounts, user, source) = (accounts, try Self.pathParameter(context, "user"), source(context))
        try await blocking { () throws(VerifierError) in
          try accounts.setPassword(user: user, password: body.password, source: source)
        }
        return Self.noContent()
      },
      Route(method: .put, path: "/v1/users/{user}/groups", scope: .admin) { request, context in
        let body = try await Self.decode(GroupsBody.self, request, context)
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        guard body.groups.allSatisfy({ !$0.isEmpty && $0.count <= 256 }), body.groups.count <= 64 else {
          throw APIError(.badRequest, "invalid_input", "up to 64 groups of 1 to 256 characters")
        }
        try await blocking { () throws(VerifierError) in
          try accounts.setGroups(user: user, groups: body.groups)
        }
        return Self.noContent()
      },
      Route(method: .post, path: "/v1/users/{user}/second-factor-off", scope: .admin) { request, context in
        let body = try await Self.decode(DaysBody.self, request, context)
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        try await blocking { () throws(VerifierError) in
          try accounts.disableSecondFactor(user: user, days: body.days)
        }
        return Self.noContent()
      },
      Route(method: .get, path: "/v1/policy", scope: .admin) { _, _ in
        let accounts = accounts
        return try Self.json(
          PolicyBody(try await blocking { () throws(VerifierError) in try accounts.policy() }))
      },
      Route(method: .put, path: "/v1/policy", scope: .admin) { request, context in
        let policy = try await Self.decode(PolicyBody.self, request, context).policy
        let accounts = accounts
        try await blocking { () throws(VerifierError) in try accounts.setPolicy(policy) }
        return try Self.json(PolicyBody(policy))
      },
      Route(method: .get, path: "/v1/users/{user}/factors", scope: .admin) { _, context in
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        return try Self.json(
          try await blocking { () throws(VerifierError) in try accounts.factorSummary(user: user) })
      },
      Route(method: .post, path: "/v1/users/{user}/tokens", scope: .admin) { request, context in
        let body = try await Self.decode(TwoCodesBody.self, request, context)
        let (hotp, user, source) = (accounts.hotp, try Self.pathParameter(context, "user"), source(context))
        guard let serial = body.serial else {
          throw APIError(.badRequest, "invalid_input", "give the token's serial")
        }
        let codes = try Self.pair(body.codes)
        let decision = try await blocking { () throws(VerifierError) in
          try hotp.assign(serial: serial, to: user, codes: codes, source: source)
        }
        return try Self.json(DecisionAnswer(decision, user: user))
      },
      Route(method: .delete, path: "/v1/users/{user}/tokens/{serial}", scope: .admin) { _, context in
        let (hotp, source) = (accounts.hotp, source(context))
        let user = try Self.pathParameter(context, "user")
        let serial = try Self.pathParameter(context, "serial")
        try await blocking { () throws(VerifierError) in
          try hotp.remove(serial: serial, user: user, source: source)
        }
        return Self.noContent()
      },
      Route(method: .post, path: "/v1/users/{user}/resync", scope: .admin) { request, context in
        let body = try await Self.decode(TwoCodesBody.self, request, context)
        let (hotp, user, source) = (accounts.hotp, try Self.pathParameter(context, "user"), source(context))
        let codes = try Self.pair(body.codes)
        let decision = try await blocking { () throws(VerifierError) in
          try hotp.resync(user: user, serial: body.serial, codes: codes, source: source)
        }
        return try Self.json(DecisionAnswer(decision, user: user))
      },
      Route(method: .post, path: "/v1/users/{user}/unlock", scope: .admin) { _, context in
        let (accounts, user, source) = (accounts, try Self.pathParameter(context, "user"), source(context))
        try await accounts.unlock(user: user, source: source)
        return try Self.json(["user": user, "result": "unlocked"])
      },
      Route(method: .post, path: "/v1/users/{user}/totp", scope: .admin) { request, context in
        let body = try await Self.decode(IssuerBody.self, request, context)
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        let uri = try await blocking { () throws(VerifierError) in
          try accounts.enrollTOTP(user: user, issuer: body.issuer ?? "otptoken")
        }
        return try Self.json(
          ["user": user, "uri": uri.string, "secret": uri.secret.base32], status: .created)
      },
      Route(method: .post, path: "/v1/users/{user}/totp/confirm", scope: .admin) { request, context in
        let body = try await Self.decode(CodeBody.self, request, context)
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        let decision = try await blocking { () throws(VerifierError) in
          try accounts.confirmTOTP(user: user, code: body.code)
        }
        return try Self.json(DecisionAnswer(decision, user: user))
      },
      Route(method: .delete, path: "/v1/users/{user}/totp/{id}", scope: .admin) { _, context in
        let (accounts, user, source) = (accounts, try Self.pathParameter(context, "user"), source(context))
        guard let id = Int64(try Self.pathParameter(context, "id")) else {
          throw APIError(.badRequest, "invalid_input", "a phone app's id is a number")
        }
        try await blocking { () throws(VerifierError) in
          try accounts.removePhoneApp(user: user, id: id, source: source)
        }
        return Self.noContent()
      },
      Route(method: .delete, path: "/v1/users/{user}/recovery-codes", scope: .admin) { _, context in
        let (accounts, user, source) = (accounts, try Self.pathParameter(context, "user"), source(context))
        try await blocking { () throws(VerifierError) in
          try accounts.revokeRecoveryCodes(user: user, source: source)
        }
        return Self.noContent()
      },
      Route(method: .get, path: "/v1/users/{user}/app-passwords", scope: .admin) { _, context in
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        let list = try await blocking { () throws(VerifierError) in try accounts.factorSummary(user: user) }
        return try Self.json(["appPasswords": list.appPasswords])
      },
      Route(method: .post, path: "/v1/users/{user}/recovery-codes", scope: .admin) { _, context in
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        let codes = try await blocking { () throws(VerifierError) in try accounts.newRecoveryCodes(user: user)
        }
        return try Self.json(["codes": codes], status: .created)
      },
      Route(method: .post, path: "/v1/users/{user}/app-passwords", scope: .admin) { request, context in
        let body = try await Self.decode(NameBody.self, request, context)
        let (accounts, user) = (accounts, try Self.pathParameter(context, "user"))
        let password = try await blocking { () throws(VerifierError) in
          try accounts.addAppPassword(user: user, label: body.name)
        }
        return try Self.json(["name": body.name, "password": password], status: .created)
      },
      Route(method: .delete, path: "/v1/users/{user}/app-passwords/{name}", scope: .admin) { _, context in
        let accounts = accounts
        let user = try Self.pathParameter(context, "user")
        let name = try Self.pathParameter(context, "name")
        try await blocking { () throws(VerifierError) in
          try accounts.revokeAppPassword(user: user, label: name)
        }
        return Self.noContent()
      },
      Route(method: .get, path: "/v1/audit", scope: .admin) { request, _ in
        let store = accounts.store
        let user = request.uri.queryParameters["user"].map(String.init)
        let limitText = request.uri.queryParameters["limit"].map(String.init) ?? "100"
        guard let limit = Int(limitText), (1...10_000).contains(limit) else {
          throw APIError(.badRequest, "invalid_input", "limit is 1 to 10000")
        }
        let entries = try await blocking { () throws(VerifierError) in
          try storeCall { () throws(StoreError) in try store.auditEntries(user: user, limit: limit) }
        }
        return try Self.json(["entries": entries])
      },
    ]
  }

  // MARK: The hot routes

  func verify(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
    let body = try await Self.decode(VerifyBody.self, request, context)
    try limitUser(body.user)
    let (accounts, source) = (accounts, source(context))
    let start = ContinuousClock.now
    var decision: Decision
    var why: String
    do {
      decision = try await accounts.verify(user: body.user, code: body.code, source: source)
      why = decision.reason.rawValue
    } catch .unknownUser {
      // Answered as a user with the usual 6-digit token would be: another length is bad input.
      if case .digits(let code)? = try? SubmittedCode(body.code), code.digits != 6 {
        throw APIError.from(VerifierError.invalidInput("a code of this user's factors is 6 digits"))
      }
      (decision, why) = (Decision(reason: .wrongCode), "unknown-user")
    }
    let elapsed = ContinuousClock.now - start
    metrics.record(decision, duration: elapsed)
    logger.info(
      "decision",
      metadata: [
        "user": "\(body.user)", "result": "\(decision.isAccepted ? "accepted" : "refused")",
        "reason": "\(why)",
        "client": "\(source)",
      ])
    switch why {
    case Decision.Reason.wrongCode.rawValue: pacing.evaluated(elapsed)
    case "unknown-user", Decision.Reason.noFactor.rawValue:
      try await Task.sleep(for: pacing.remaining(after: elapsed))
    default: break
    }
    return try Self.json(Self.publicAnswer(decision, user: body.user))
  }

  /// What a caller is told of a decision. A wrong code, an unknown user and a user without factors
  /// look alike ("wrong-code", no factor named), so the answer never says whether a name exists or
  /// has factors; the log and the audit keep which it was.
  static func publicAnswer(_ decision: Decision, user: String) -> DecisionAnswer {
    switch decision.reason {
    case .wrongCode, .noFactor: DecisionAnswer(Decision(reason: .wrongCode), user: user)
    default: DecisionAnswer(decision, user: user)
    }
  }

  func login(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
    let body = try await Self.decode(LoginBody.self, request, context)
    try limitUser(body.user)
    let accounts = accounts
    let checkPassword = !(body.passwordCheckedByCaller ?? false)
    let outcome = try await accounts.login(
      user: body.user, password: body.password, code: body.code, checkPassword: checkPassword,
      source: source(context))
    var answer = LoginAnswer(user: body.user, outcome: "refused")
    switch outcome {
    case .allowed(let via):
      (answer.outcome, answer.via) = ("allowed", via)
      // Only a sign-in that proved a second factor earns a password that stands in for one.
      if let client = body.client, checkPassword, via != "password", !via.hasPrefix("app-password") {
        let user = body.user
        let issued = try await blocking { () throws(VerifierError) in
          try accounts.issueClientPassword(user: user, client: client)
        }
        answer.appPassword = .init(name: issued.name, password: issued.password)
      }
    case .allowedUntilDeadline(let deadline): (answer.outcome, answer.deadline) = ("allowed", deadline)
    case .codeRequired: answer.outcome = "code-required"
    case .enrollmentRequired: answer.outcome = "enrollment-required"
    case .refused(let why): answer.reason = why
    }
    logger.info(
      "login",
      metadata: ["user": "\(body.user)", "outcome": "\(answer.outcome)", "client": "\(source(context))"])
    return try Self.json(answer)
  }

  /// Ready when the store answers a read.
  func ready() async throws -> Response {
    let store = accounts.store
    do {
      _ = try await blocking { () throws(VerifierError) in
        try storeCall { () throws(StoreError) in try store.loginPolicy() }
      }
    } catch {
      throw APIError(.serviceUnavailable, "store_unavailable", "the store does not answer", retryAfter: 1)
    }
    return try Self.json(["status": "ready"])
  }

  /// A path parameter, percent-decoded (`/v1/users/Jos%C3%A9/...` names José); a malformed
  /// escape is bad input.
  static func pathParameter(_ context: ServiceRequestContext, _ name: String) throws -> String {
    guard let raw = context.parameters.get(name), let decoded = raw.removingPercentEncoding else {
      throw APIError(.badRequest, "invalid_input", "the path's \(name) is not valid percent-encoded UTF-8")
    }
    return decoded
  }

  static func pair(_ codes: [String]) throws -> (String, String) {
    guard codes.count == 2 else {
      throw APIError(.badRequest, "invalid_input", "give two consecutive codes")
    }
    return (codes[0], codes[1])
  }

  /// The API's OpenAPI 3.1 document, shipped as a resource of this module.
  static let openAPIDocument: [UInt8] = {
    guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
      let data = try? Data(contentsOf: url)
    else { return Array(#"{"error":"the OpenAPI document is missing from this build"}"#.utf8) }
    return Array(data)
  }()
}
