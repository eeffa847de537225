import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// Runs the API until SIGTERM or SIGINT, then stops taking connections, lets requests in flight
/// finish, and returns.
public enum VerifierServer {
  /// `onListening` gets the bound port (useful with port 0).
  public static func run(
    api: VerifierAPI, host: String, port: Int, logger: Logger,
    onListening: @escaping @Sendable (Int) -> Void = { _ in }
  ) async throws {
    let app = Application(
      router: api.makeRouter(),
      configuration: .init(address: .hostname(host, port: port), serverName: "otptoken"),
      onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
      logger: logger)
    try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
  }
}
