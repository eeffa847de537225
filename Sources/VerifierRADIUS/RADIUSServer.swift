import Foundation
import Logging
import NIOCore
import NIOPosix
import RADIUS
import Synchronization
import Verifier

/// A network device allowed to ask: its address or network, its shared secret, whether its
/// requests must carry a Message-Authenticator, and what its password field holds.
public struct RADIUSClient: Sendable {
  public var network: IPNetwork
  public var secret: [UInt8]
  /// Required by default (the BlastRADIUS fix); turned off only for a client that cannot send
  /// one, such as Debian 12's pam_radius_auth on the same machine.
  public var requireMessageAuthenticator: Bool
  public var passField: PassField

  public init(
    network: IPNetwork, secret: [UInt8], requireMessageAuthenticator: Bool = true,
    passField: PassField = .password
  ) {
    self.network = network
    self.secret = secret
    self.requireMessageAuthenticator = requireMessageAuthenticator
    self.passField = passField
  }
}

/// RADIUS for VPN concentrators, routers, Wi-Fi controllers and pam_radius_auth: Access-Request
/// with PAP; the password is answered with an Access-Challenge (State, Reply-Message) when a code
/// is due, and the code, sent back with that State, decides. The decisions are the verifier's
/// (``Accounts/validate(user:pass:transaction:field:source:)``), so attempts are charged and codes
/// used once as everywhere else; a challenge is a sign-in session of the store, so any node may
/// answer the code.
///
/// Datagrams from unknown addresses, malformed ones, requests without a required or with a wrong
/// Message-Authenticator, and anything but Access-Request are dropped without an answer. Every
/// answer carries a Message-Authenticator first. A retransmitted request (same client, identifier
/// and authenticator) gets the same answer again, never a second decision.
public final class RADIUSServer: Sendable {
  let accounts: Accounts
  let clients: [RADIUSClient]
  let prompt: String
  let logger: Logger
  /// Requests being decided and answers recently sent, by client address, port, identifier and
  /// authenticator.
  /// Expired answers are swept at most once a second (`swept`), not on every datagram.
  let recent = Mutex<
    (inFlight: Set<[UInt8]>, answers: [[UInt8]: (bytes: [UInt8], until: UInt64)], swept: UInt64)
  >(([], [:], 0))
  /// Requests decided at once; more are dropped (the client retransmits).
  let maximumInFlight: Int

  public init(
    accounts: Accounts, clients: [RADIUSClient],
    prompt: String = "Enter the code from your token or phone app",
    maximumInFlight: Int = 256, logger: Logger = Logger(label: "otptoken.radius")
  ) {
    self.accounts = accounts
    self.clients = clients
    self.prompt = prompt
    self.maximumInFlight = maximumInFlight
    self.logger = logger
  }

  /// Binds `host:port` (port 0: any) and answers until the task is cancelled; `onBound` gets the
  /// port.
  public func run(
    host: String, port: Int, group: any EventLoopGroup, onBound: @Sendable (Int) -> Void = { _ in }
  )
    async throws
  {
    let channel = try await DatagramBootstrap(group: group)
      .channelOption(.socketOption(.so_reuseaddr), value: 1)
      .bind(host: host, port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
            wrappingChannelSynchronously: channel)
        }
      }
    onBound(channel.channel.localAddress?.port ?? port)
    try await channel.executeThenClose { inbound, outbound in
      try await withThrowingDiscardingTaskGroup { group in
        for try await envelope in inbound {
          let (client, request, key): (RADIUSClient, RADIUSPacket, [UInt8])
          switch admit(envelope) {
          case .drop: continue
          case .resend(let bytes):
            try await outbound.write(
              AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: bytes)))
            continue
          case .decide(let c, let r, let k): (client, request, key) = (c, r, k)
          }
          group.addTask {
            let answer = await self.answer(request, client: client, from: envelope.remoteAddress)
            self.finish(key, answer)
            if let answer {
              try? await outbound.write(
                AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: ByteBuffer(bytes: answer)))
            }
          }
        }
      }
    }
  }

  /// What to do with a datagram.
  enum Admission {
    /// Decide it: the client, the request and its retransmission key.
    case decide(RADIUSClient, RADIUSPacket, [UInt8])
    /// A retransmission of a request answered recently: the same answer again.
    case resend([UInt8])
    /// Not a request to answer, or one being decided now, or one too many at once.
    case drop
  }

  func admit(_ envelope: AddressedEnvelope<ByteBuffer>) -> Admission {
    let address = envelope.remoteAddress.ipAddress ?? ""
    guard let client = clients.first(where: { $0.network.contains(address) }) else {
      logger.notice("dropped", metadata: ["from": "\(address)", "why": "not a client"])
      return .drop
    }
    let bytes = Array(envelope.data.readableBytesView)
    let request: RADIUSPacket
    do {
      request = try RADIUSPacket(parsing: bytes)
      guard request.code == RADIUSPacket.Code.accessRequest.rawValue else {
        throw RADIUSError.malformed("code \(request.code) is not Access-Request")
      }
      try RADIUSCrypto.checkRequest(
        request, secret: client.secret, required: client.requireMessageAuthenticator)
    } catch {
      logger.notice("dropped", metadata: ["from": "\(address)", "why": "\(error)"])
      return .drop
    }
    let key =
      Array("\(address)|\(envelope.remoteAddress.port ?? 0)|".utf8) + [request.identifier]
      + request.authenticator
    let now = DispatchTime.now().uptimeNanoseconds
    return recent.withLock { state -> Admission in
      if now > state.swept + 1_000_000_000 {
        state.answers = state.answers.filter { $0.value.until > now }
        state.swept = now
      }
      if let cached = state.answers[key], cached.until > now { return .resend(cached.bytes) }
      guard !state.inFlight.contains(key), state.inFlight.count < maximumInFlight else { return .drop }
      state.inFlight.insert(key)
      return .decide(client, request, key)
    }
  }

  func finish(_ key: [UInt8], _ answer: [UInt8]?) {
    let until = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
    recent.withLock { state in
      state.inFlight.remove(key)
      if let answer { state.answers[key] = (answer, until) }
    }
  }

  /// The signed answer to an authenticated Access-Request; nil to drop it.
  func answer(_ request: RADIUSPacket, client: RADIUSClient, from address: SocketAddress) async -> [UInt8]? {
    let source = "radius@\(address.ipAddress ?? "?")"
    guard let nameBytes = request.value(.userName), let name = String(validating: nameBytes, as: UTF8.self),
      let hidden = request.value(.userPassword),
      let clear = RADIUSCrypto.revealPassword(
        hidden, secret: client.secret, requestAuthenticator: request.authenticator),
      let pass = String(validating: clear, as: UTF8.self)
    else {
      return sign(.accessReject, [], to: request, client)
    }
    let transaction = request.value(.state).flatMap { String(validating: $0, as: UTF8.self) }
    let decision: ValidationAnswer
    do {
      decision = try await accounts.validate(
        user: name, pass: pass, transaction: transaction, field: client.passField, source: source)
    } catch {
      switch error {
      case .invalidInput, .unknownUser: decision = .reject("\(error)")
      default:
        // The store cannot answer: no answer, so the client retries or fails over.
        logger.error("undecided", metadata: ["error": "\(error)"])
        return nil
      }
    }
    logger.info(
      "radius", metadata: ["user": "\(name)", "answer": "\(decision)", "client": "\(source)"])
    switch decision {
    case .accept: return sign(.accessAccept, [], to: request, client)
    case .challenge(let id, _):
      return sign(
        .accessChallenge,
        [.init(.state, Array(id.utf8)), .init(.replyMessage, Array(prompt.utf8.prefix(253)))],
        to: request, client)
    case .reject: return sign(.accessReject, [], to: request, client)
    }
  }

  func sign(
    _ code: RADIUSPacket.Code, _ attributes: [RADIUSPacket.Attribute], to request: RADIUSPacket,
    _ client: RADIUSClient
  )
    -> [UInt8]?
  {
    let answer = RADIUSPacket(
      code: code.rawValue, identifier: request.identifier, authenticator: [], attributes: attributes)
    return try? RADIUSCrypto.signAnswer(answer, to: request, secret: client.secret)
  }
}
