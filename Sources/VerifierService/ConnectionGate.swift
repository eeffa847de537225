import Foundation
import NIOCore
import Synchronization

/// How many connections a node holds: at most `perAddress` from one client address and `total` in
/// all. A connection past either is closed as soon as it is accepted, so one address holding
/// many idle connections cannot starve the others, and the node never runs out of descriptors
/// while accepting. Together with the idle timeout (which also bounds how long a request head may
/// take to arrive), an idle or slow connection is held for a bounded time.
public struct ConnectionLimits: Sendable {
  public var perAddress: Int
  public var total: Int
  /// Closes a connection that has sent nothing, or not a whole request head, for this long.
  public var idleTimeout: Duration

  public init(
    perAddress: Int = 256, total: Int = ConnectionLimits.descriptorBudget(),
    idleTimeout: Duration = .seconds(15)
  ) {
    self.perAddress = max(1, perAddress)
    self.total = max(1, total)
    self.idleTimeout = idleTimeout
  }

  /// The process's descriptor limit less what the store, logs and threads need (64, at least half
  /// the limit).
  public static func descriptorBudget() -> Int {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else {
      return 4096
    }
    let soft = Int(clamping: limit.rlim_cur)
    return max(soft / 2, soft - 64)
  }
}

/// Counts connections by client address against ``ConnectionLimits``.
final class ConnectionGate: Sendable {
  let limits: ConnectionLimits
  private let counts = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

  init(_ limits: ConnectionLimits) { self.limits = limits }

  /// Takes a place for a connection from `address`, or refuses one.
  func admit(_ address: String) -> Bool {
    counts.withLock { counts in
      let mine = counts.byAddress[address, default: 0]
      guard counts.total < limits.total, mine < limits.perAddress else { return false }
      counts.total += 1
      counts.byAddress[address] = mine + 1
      return true
    }
  }

  func release(_ address: String) {
    counts.withLock { counts in
      counts.total -= 1
      let left = counts.byAddress[address, default: 1] - 1
      counts.byAddress[address] = left > 0 ? left : nil
    }
  }

  /// The connections held now.
  var held: Int { counts.withLock { $0.total } }

  /// The first handler of every accepted connection: admitted connections are counted until they
  /// close, others are closed at once.
  func handler() -> any RemovableChannelHandler { Handler(gate: self) }

  private final class Handler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let gate: ConnectionGate
    init(gate: ConnectionGate) { self.gate = gate }

    func handlerAdded(context: ChannelHandlerContext) {
      let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
      guard gate.admit(address) else {
        context.close(promise: nil)
        return
      }
      let gate = gate
      context.channel.closeFuture.whenComplete { _ in gate.release(address) }
    }
  }
}
