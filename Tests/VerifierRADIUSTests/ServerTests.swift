import Foundation
import NIOPosix
import RADIUS
import StoreFixtures
import Testing
import Verifier
import VerifierRADIUS

/// The RADIUS listener on a loopback port, asked over a plain UDP socket.
@Suite struct RADIUSServerTests {
  static let secret = Array("a shared secret for the test".utf8)

  /// alice (password "pw", the RFC 4226 token) behind a listener for 127.0.0.1; `body` gets the port.
  func withServer(_ body: @Sendable (Fixture, Int) async throws -> Void) async throws {
    var settings = VerifierSettings()
    settings.passwordRounds = 1000
    let f = try Fixture(.memory, settings: settings)
    try f.accounts.setPassword(user: "alice", password: "pw")
    let server = RADIUSServer(
      accounts: f.accounts, clients: [RADIUSClient(network: IPNetwork("127.0.0.1")!, secret: Self.secret)])
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let task = Task {
      try await server.run(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton) {
        continuation.yield($0)
      }
    }
    var iterator = ports.makeAsyncIterator()
    let port = try #require(await iterator.next())
    try await body(f, port)
    task.cancel()
    _ = await task.result
  }

  func request(_ user: String, _ password: String, state: [UInt8]? = nil, id: UInt8) throws -> (
    RADIUSPacket, [UInt8]
  ) {
    let authenticator = (0..<16).map { _ in UInt8.random(in: 0...255) }
    var packet = RADIUSPacket(
      code: 1, identifier: id, authenticator: authenticator,
      attributes: [
        .init(.userName, Array(user.utf8)),
        .init(
          .userPassword,
          RADIUSCrypto.hidePassword(
            Array(password.utf8), secret: Self.secret, requestAuthenticator: authenticator)),
      ] + (state.map { [.init(.state, $0)] } ?? []))
    try RADIUSCrypto.signRequest(&packet, secret: Self.secret)
    return (packet, try packet.encoded())
  }

  /// Sends `datagram` and returns the answer, or nil after `wait` milliseconds (a minute by
  /// default: the whole suite runs at once and may keep the verifier's threads busy).
  func exchange(_ socket: Int32, _ port: Int, _ datagram: [UInt8], wait: Int32 = 60_000) -> [UInt8]? {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    _ = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        sendto(socket, datagram, datagram.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    var entry = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, wait) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = recv(socket, &buffer, buffer.count, 0)
    return count > 0 ? Array(buffer[0..<count]) : nil
  }

  @Test func aChallengeThenTheCodeAndARetransmissionIsAnsweredTheSame() async throws {
    try await withServer { f, port in
      let socket = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
      defer { close(socket) }
      let (first, bytes) = try request("alice", "pw", id: 1)
      let challenge = try #require(exchange(socket, port, bytes))
      #expect(RADIUSCrypto.answerIsAuthentic(challenge, to: first, secret: Self.secret))
      let parsed = try RADIUSPacket(parsing: challenge)
      #expect(parsed.code == 11 && parsed.attributes.first?.type == 80)
      // The same datagram again: the same answer, not a second decision (a second challenge).
      #expect(exchange(socket, port, bytes) == challenge)
      let state = try #require(parsed.value(.state))
      let (second, answerBytes) = try request("alice", f.code(0), state: state, id: 2)
      let accept = try #require(exchange(socket, port, answerBytes))
      #expect(accept[0] == 2 && RADIUSCrypto.answerIsAuthentic(accept, to: second, secret: Self.secret))
      // A wrong password is rejected.
      let (_, wrong) = try request("alice", "px", id: 3)
      #expect(exchange(socket, port, wrong)?[0] == 3)
      // A request signed with another secret is dropped.
      var forged = try RADIUSPacket(parsing: try request("alice", "pw", id: 4).1)
      try RADIUSCrypto.signRequest(&forged, secret: Array("another secret entirely".utf8))
      #expect(exchange(socket, port, try forged.encoded(), wait: 300) == nil)
    }
  }
}
