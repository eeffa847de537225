import BrowserInput
import Foundation
import Hummingbird
import Verifier

/// Who may call `/validate/check`: callers from these networks, each with what its `pass`
/// parameter holds, and (if `apiKeys`) any caller presenting a live API key, whose `pass` holds a
/// password. Nobody by default: an open endpoint is never the default.
public struct ValidateAccess: Sendable {
  public struct Caller: Sendable {
    public var network: IPNetwork
    public var field: PassField
    public init(network: IPNetwork, field: PassField = .password) {
      self.network = network
      self.field = field
    }
  }
  public var callers: [Caller]
  public var apiKeys: Bool
  public init(callers: [Caller] = [], apiKeys: Bool = false) {
    self.callers = callers
    self.apiKeys = apiKeys
  }
}

/// privacyIDEA's `/validate/check`, for the clients written for it (PAM modules, FreeRADIUS
/// plugins, SimpleSAMLphp, Keycloak, ADFS and Windows providers). Parameters come as a form, a JSON
/// object or a query: `user`, `pass`, `transaction_id` (or `state`); `realm` and `client` are
/// accepted and ignored (one realm; the caller's own address decides who it is).
extension VerifierAPI {
  struct ValidateParameters {
    var user: String
    var pass: String
    var transaction: String?
  }

  /// The caller's field, or nil when it may not call.
  func validateField(_ request: Request, _ context: ServiceRequestContext) async -> PassField? {
    if let caller = validateAccess.callers.first(where: { $0.network.contains(context.peer) }) {
      return caller.field
    }
    if validateAccess.apiKeys, (try? await authenticate(request, needing: .verify)) != nil {
      return .password
    }
    return nil
  }

  static func validateParameters(_ request: Request, _ context: ServiceRequestContext) async throws
    -> ValidateParameters
  {
    var fields: [String: String] = [:]
    for (name, value) in request.uri.queryParameters { fields[String(name)] = String(value) }
    if request.method == .post {
      var request = request
      let body = try await request.collectBody(upTo: context.maxUploadSize)
      let bytes = Array(body.readableBytesView)
      if request.headers[.contentType]?.hasPrefix("application/json") == true {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
          throw PrivacyIDEAError.parameter("the body is not a JSON object")
        }
        for (name, value) in object {
          if let text = value as? String {
            fields[name] = text
          } else if let number = value as? NSNumber {
            fields[name] = number.stringValue
          }
        }
      } else if !bytes.isEmpty {
        guard let form = Form(bytes) else { throw PrivacyIDEAError.parameter("the form is not readable") }
        fields.merge(form.fields) { $1 }
      }
    }
    guard let user = fields["user"], !user.isEmpty else {
      throw PrivacyIDEAError.parameter("Missing parameter: 'user'")
    }
    guard let pass = fields["pass"] else { throw PrivacyIDEAError.parameter("Missing parameter: 'pass'") }
    let transaction = (fields["transaction_id"] ?? fields["state"]).flatMap { $0.isEmpty ? nil : $0 }
    return ValidateParameters(user: user, pass: pass, transaction: transaction)
  }

  /// One validation, answered in privacyIDEA's shape.
  func validateCheck(_ request: Request, _ context: ServiceRequestContext) async throws -> (Response, Bool) {
    guard let field = await validateField(request, context) else {
      return (PrivacyIDEAError.forbidden.response, false)
    }
    let parameters: ValidateParameters
    do { parameters = try await Self.validateParameters(request, context) } catch let error
      as PrivacyIDEAError
    {
      return (error.response, false)
    }
    try limitUser(parameters.user)
    let answer: ValidationAnswer
    do {
      answer = try await accounts.validate(
        user: parameters.user, pass: parameters.pass, transaction: parameters.transaction, field: field,
        source: "validate@\(context.peer)")
    } catch {
      switch error {
      case .invalidInput, .unknownUser: answer = .reject("bad input")
      default: throw error
      }
    }
    logger.info(
      "validate",
      metadata: [
        "user": "\(parameters.user)", "answer": "\(answer)", "client": "validate@\(context.peer)",
      ])
    return (Self.privacyIDEAAnswer(answer), answer.isAccept)
  }

  /// `{"id":1,"jsonrpc":"2.0","result":{"status":true,"value":...,"authentication":...},"detail":...}`
  static func privacyIDEAAnswer(_ answer: ValidationAnswer) -> Response {
    var detail: [String: Any] = [:]
    let value: Bool
    let authentication: String
    switch answer {
    case .accept(let via):
      (value, authentication) = (true, "ACCEPT")
      detail["message"] = "matching 1 tokens"
      if via.hasPrefix("hotp:") { (detail["serial"], detail["type"]) = (String(via.dropFirst(5)), "hotp") }
      if via == "totp" { detail["type"] = "totp" }
    case .challenge(let id, _):
      (value, authentication) = (false, "CHALLENGE")
      let message = "please enter otp: "
      detail = [
        "message": message, "messages": [message], "transaction_id": id, "transaction_ids": [id],
        "multi_challenge": [
          ["transaction_id": id, "message": message, "type": "hotp", "client_mode": "interactive"]
        ],
        "client_mode": "interactive",
      ]
    case .reject:
      (value, authentication) = (false, "REJECT")
      detail["message"] = "wrong otp pin or otp value"
    }
    return privacyIDEAResponse(
      ["status": true, "value": value, "authentication": authentication], detail: detail, status: .ok)
  }

  static func privacyIDEAResponse(
    _ result: [String: Any], detail: [String: Any]?, status: HTTPResponse.Status
  )
    -> Response
  {
    var object: [String: Any] = [
      "id": 1, "jsonrpc": "2.0", "result": result, "time": Date().timeIntervalSince1970,
      "version": "otptoken (privacyIDEA /validate/check)", "versionnumber": "3.9",
    ]
    if let detail { object["detail"] = detail }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return Response(
      status: status, headers: [.contentType: "application/json"],
      body: .init(byteBuffer: ByteBuffer(bytes: data)))
  }
}

extension ValidationAnswer {
  var isAccept: Bool { if case .accept = self { true } else { false } }
}

/// An error in privacyIDEA's shape: `result.status` false and `result.error` with its code.
enum PrivacyIDEAError: Error {
  /// privacyIDEA's ParameterError, 905.
  case parameter(String)
  /// The caller's address is not allowed (and it has no key where keys are accepted).
  case forbidden

  var response: Response {
    switch self {
    case .parameter(let message):
      VerifierAPI.privacyIDEAResponse(
        ["status": false, "error": ["code": 905, "message": "ERR905: \(message)"]], detail: nil,
        status: .badRequest)
    case .forbidden:
      VerifierAPI.privacyIDEAResponse(
        ["status": false, "error": ["code": 403, "message": "this address may not call /validate/check"]],
        detail: nil, status: .forbidden)
    }
  }
}
