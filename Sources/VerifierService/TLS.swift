import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The certificate and key `serve` presents, read from PEM files and read again on
/// ``reload()`` (SIGHUP), so a renewed certificate is served without a restart. A reload that
/// fails keeps the previous certificate.
public final class TLSCertificates: Sendable {
  public let certificatePath: String
  public let keyPath: String
  private let context: Mutex<NIOSSLContext>

  /// Reads both files; an unreadable or mismatched pair is an error.
  public init(certificatePath: String, keyPath: String) throws {
    self.certificatePath = certificatePath
    self.keyPath = keyPath
    context = Mutex(try Self.load(certificatePath, keyPath))
  }

  /// Reads the files again.
  public func reload() throws {
    let fresh = try Self.load(certificatePath, keyPath)
    context.withLock { $0 = fresh }
  }

  var current: NIOSSLContext { context.withLock { $0 } }

  static func load(_ certificatePath: String, _ keyPath: String) throws -> NIOSSLContext {
    let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map {
      NIOSSLCertificateSource.certificate($0)
    }
    let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
    var configuration = TLSConfiguration.makeServerConfiguration(
      certificateChain: chain, privateKey: .privateKey(key))
    configuration.minimumTLSVersion = .tlsv12
    return try NIOSSLContext(configuration: configuration)
  }
}

/// HTTP/1.1 over TLS with the certificate of the moment: each connection takes the context
/// current when it is accepted. A client speaking plain HTTP to the TLS port is told so, in plain
/// HTTP, and the connection closes.
struct TLSHTTPChannel<Base: ServerChildChannel>: ServerChildChannel {
  typealias Value = Base.Value
  let base: Base
  let certificates: TLSCertificates

  func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(PlainHTTPRefusal())
      try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: certificates.current))
    }.flatMap { base.setup(channel: channel, logger: logger) }
  }

  func handle(value: Value, logger: Logger) async { await base.handle(value: value, logger: logger) }
}

extension TLSHTTPChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
  var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Looks at a connection's first byte: a TLS handshake record (22) passes on, and this handler
/// leaves; anything else (a plain HTTP request) is answered 400 in plain text and closed.
final class PlainHTTPRefusal: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  static let answer: String = {
    let body = "This port speaks HTTPS: use https:// in the address.\n"
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
  }()

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
    if first == 22 {
      context.fireChannelRead(data)
      context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
      return
    }
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: Self.answer))).whenComplete { _ in
      channel.close(promise: nil)
    }
  }
}
