import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request the HTTP parser cannot read (a broken request line, a bad header) with the
/// API's JSON 400 and closes the connection, instead of the framework's empty 400.
///
/// A parse error inside a request body still goes to the handler reading that body, which answers
/// it; one that follows a request whose response is still being written waits for that response.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPRequestPart
  typealias InboundOut = HTTPRequestPart
  typealias OutboundIn = HTTPResponsePart
  typealias OutboundOut = HTTPResponsePart

  /// A request head arrived and its end has not.
  private var readingBody = false
  /// Requests whose response has not been written to the end.
  private var unanswered = 0
  private var pendingError = false
  private var closing = false

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head:
      readingBody = true
      unanswered += 1
    case .end: readingBody = false
    case .body: break
    }
    context.fireChannelRead(data)
  }

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    let isEnd: Bool
    if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
    context.write(data, promise: promise)
    guard isEnd else { return }
    unanswered = max(0, unanswered - 1)
    if pendingError && unanswered == 0 { answer(context: context) }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    guard error is HTTPParserError, !readingBody else {
      context.fireErrorCaught(error)
      return
    }
    if unanswered == 0 {
      answer(context: context)
    } else {
      pendingError = true
    }
  }

  private func answer(context: ChannelHandlerContext) {
    guard !closing else { return }
    closing = true
    let body = ByteBuffer(bytes: APIError.malformedRequest.jsonBody)
    let head = HTTPResponse(
      status: .badRequest,
      headerFields: [
        .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
      ])
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    context.write(wrapOutboundOut(.body(body)), promise: nil)
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
  }
}
