import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Verifier

/// An error answer: an HTTP status and a stable, documented code that clients may branch on,
/// with a message for people. Sent as `{"error": {"code": ..., "message": ...}}`.
public struct APIError: Error, Sendable, Equatable {
  public var status: HTTPResponse.Status
  public var code: String
  public var message: String
  /// Seconds, for 429 and throttled answers.
  public var retryAfter: Int?
  /// The methods a path takes, for 405 answers.
  public var allow: String?

  public init(
    _ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil,
    allow: String? = nil
  ) {
    self.status = status
    self.code = code
    self.message = message
    self.retryAfter = retryAfter
    self.allow = allow
  }

  static func unauthenticated() -> APIError {
    APIError(.unauthorized, "unauthenticated", "send a live API key as 'Authorization: Bearer otk_...'")
  }
  /// A request the HTTP parser could not read.
  static let malformedRequest = APIError(
    .badRequest, "malformed_request", "the request's HTTP framing is malformed")

  static func forbidden() -> APIError {
    APIError(.forbidden, "forbidden", "this API key may only verify; the route needs an admin key")
  }

  /// The answer for anything a handler throws: verifier errors by kind, framework errors by
  /// status, and anything else as an internal error that reveals nothing.
  static func from(_ error: any Error) -> APIError {
    switch error {
    case let error as APIError: return error
    case let error as VerifierError: return from(error)
    case is DecodingError:
      return APIError(.badRequest, "invalid_json", "the body is not the JSON this route takes")
    case is HTTPParserError:
      // A body the HTTP parser could not read (a chunk size past 64 bits, say): the client's fault.
      return .malformedRequest
    case is NIOTooManyBytesError:
      return APIError(.contentTooLarge, "body_too_large", "the request body is too large")
    case let error as any HTTPResponseError:
      switch error.status {
      case .notFound: return APIError(.notFound, "not_found", "no such route")
      case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed")
      case .contentTooLarge:
        return APIError(.contentTooLarge, "body_too_large", "the request body is too large")
      default: return APIError(error.status, "bad_request", "the request was not understood")
      }
    default: return APIError(.internalServerError, "internal", "internal error")
    }
  }

  static func from(_ error: VerifierError) -> APIError {
    switch error {
    case .store(.conflict): return APIError(.conflict, "conflict", error.description)
    case .conflict(let why): return APIError(.conflict, "conflict", why)
    case .store(.notFound), .notFound: return APIError(.notFound, "not_found", error.description)
    case .unknownUser: return APIError(.notFound, "unknown_user", error.description)
    case .invalidInput(let why): return APIError(.badRequest, "invalid_input", why)
    case .store(.unavailable):
      return APIError(.serviceUnavailable, "store_unavailable", error.description, retryAfter: 1)
    case .store(.corrupt), .keyFile, .sealing, .invalidSetting:
      return APIError(.internalServerError, "server_misconfigured", "the verifier cannot read its own state")
    }
  }

  var response: Response {
    var headers: HTTPFields = [.contentType: "application/json"]
    if let retryAfter { headers[.retryAfter] = String(retryAfter) }
    if let allow { headers[.allow] = allow }
    return Response(
      status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: jsonBody)))
  }

  /// `{"error": {"code": ..., "message": ...}}`.
  var jsonBody: Data {
    struct Body: Encodable {
      struct Inner: Encodable {
        var code: String
        var message: String
      }
      var error: Inner
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return (try? encoder.encode(Body(error: .init(code: code, message: message)))) ?? Data()
  }
}
