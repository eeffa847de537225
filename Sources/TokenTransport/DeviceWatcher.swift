/// A raw event from the USB layer (libusb hot-plug, a polling timer, or a test).
public enum USBEvent: Sendable, Equatable {
  case arrived(vendor: UInt16, product: UInt16)
  case left(vendor: UInt16, product: UInt16)
  /// A periodic nudge where no hot-plug events exist: rescan.
  case tick
}

/// A token appearing or disappearing, as the watcher reports it.
public enum DeviceChange: Sendable, Equatable {
  case arrived(DeviceDescription)
  case departed(DeviceDescription)
}

/// Turns raw USB events into token arrivals and departures.
///
/// USB events come before the hidraw node is usable (udev may not have applied permissions yet),
/// and a token plugging in raises several events at once. So each event is followed by a short
/// debounce and a rescan through the back-ends; an arrival that the rescan does not show yet is
/// rescanned after growing back-offs. Changes are computed against the last scan, so bursts of
/// events produce each change once.
public struct DeviceWatcher: Sendable {
  public typealias Scan = @Sendable () -> [DeviceDescription]
  public typealias Sleep = @Sendable (Duration) async throws -> Void

  public let scan: Scan
  public let sleep: Sleep
  public let debounce: Duration
  public let backoffs: [Duration]

  public init(
    scan: @escaping Scan, sleep: @escaping Sleep = { try await Task.sleep(for: $0) },
    debounce: Duration = .milliseconds(250),
    backoffs: [Duration] = [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2)]
  ) {
    self.scan = scan
    self.sleep = sleep
    self.debounce = debounce
    self.backoffs = backoffs
  }

  /// The changes caused by `events`: first every token present now (as arrivals), then each
  /// change as it happens, until `events` ends or the task is cancelled.
  public func changes(events: AsyncStream<USBEvent>) -> AsyncStream<DeviceChange> {
    AsyncStream { continuation in
      let task = Task {
        var known = DeviceSet()
        for change in known.update(scan()) { continuation.yield(change) }
        for await event in events {
          do { try await sleep(debounce) } catch { break }
          var changes = known.update(scan())
          if case .arrived = event,
            !changes.contains(where: { if case .arrived = $0 { true } else { false } })
          {
            for delay in backoffs {
              do { try await sleep(delay) } catch { break }
              changes += known.update(scan())
              if changes.contains(where: { if case .arrived = $0 { true } else { false } }) { break }
            }
          }
          for change in changes { continuation.yield(change) }
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}

/// The devices seen by the last scan, keyed by kind and path.
struct DeviceSet {
  private var devices: [String: DeviceDescription] = [:]

  mutating func update(_ scan: [DeviceDescription]) -> [DeviceChange] {
    let now = Dictionary(scan.map { ("\($0.kind.rawValue):\($0.path)", $0) }, uniquingKeysWith: { a, _ in a })
    var changes: [DeviceChange] = []
    for key in devices.keys.sorted() where now[key] == nil { changes.append(.departed(devices[key]!)) }
    for key in now.keys.sorted() where devices[key] == nil { changes.append(.arrived(now[key]!)) }
    devices = now
    return changes
  }
}

/// Events from a timer, where the platform offers no hot-plug notifications.
public enum PollingEvents {
  public static func every(_ interval: Duration) -> AsyncStream<USBEvent> {
    AsyncStream { continuation in
      let task = Task {
        while !Task.isCancelled {
          do { try await Task.sleep(for: interval) } catch { break }
          continuation.yield(.tick)
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}
