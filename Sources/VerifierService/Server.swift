import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// Runs the API until SIGTERM or SIGINT, then stops taking connections, lets requests in flight
/// finish, and returns.
public enum VerifierServer {
  /// Serves `router` (``VerifierAPI/makeRouter()``, perhaps with pages added); `onListening` gets
  /// the bound port (useful with port 0).
  public static func run(
    router: Router<ServiceRequestContext>, host: String, port: Int,
    limits: ConnectionLimits = ConnectionLimits(), tls: TLSCertificates? = nil,
    logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }
  ) async throws {
    let app = Application(
      router: router,
      server: server(limits, tls: tls),
      configuration: .init(address: .hostname(host, port: port), serverName: "otptoken"),
      onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
      logger: logger)
    try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
  }

  /// HTTP/1.1 with the connection limits, the idle timeout and JSON answers to unreadable requests;
  /// over TLS when `tls` is given.
  public static func server(_ limits: ConnectionLimits, tls: TLSCertificates? = nil) -> HTTPServerBuilder {
    let gate = ConnectionGate(limits)
    let (seconds, attoseconds) = limits.idleTimeout.components
    let configuration = HTTP1Channel.Configuration(
      additionalChannelHandlers: [gate.handler(), MalformedRequestHandler()],
      idleTimeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    guard let tls else { return .http1(configuration: configuration) }
    return HTTPServerBuilder { responder in
      TLSHTTPChannel(
        base: HTTP1Channel(responder: responder, configuration: configuration), certificates: tls)
    }
  }
}
