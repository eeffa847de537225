import OTPWire
import TokenTransport

/// Finds tokens across the back-ends it is given (hidapi, simulated tokens' sockets, tokens in
/// this process) and opens the one the user means. Which back-ends exist is the caller's choice, so
/// the driver itself needs no C library.
public struct TokenDiscovery: Sendable {
  public var backends: [any DeviceBackend]
  public var clock: any DriverClock

  public init(backends: [any DeviceBackend], clock: any DriverClock = SystemDriverClock()) {
    self.backends = backends
    self.clock = clock
  }

  /// Every token visible now, and what went wrong with back-ends that could not look.
  public func devices() -> (found: [DeviceDescription], problems: [String]) {
    var found: [DeviceDescription] = []
    var problems: [String] = []
    for backend in backends {
      do { found += try backend.enumerate() } catch { problems.append("\(backend.kind.rawValue): \(error)") }
    }
    return (found, problems)
  }

  /// Opens a session on a listed device.
  public func open(_ description: DeviceDescription) throws(DriverError) -> TokenSession {
    guard let backend = backends.first(where: { $0.kind == description.kind }) else {
      throw .noMatchingToken(description.path)
    }
    let device: any HIDDevice
    do { device = try backend.open(description) } catch {
      throw TokenSession.mapped(error, "opening \(description.path)")
    }
    do { return try TokenSession(device: device, clock: clock) } catch {
      device.close()
      throw error
    }
  }

  /// What `otptoken devices` shows of one token.
  public struct Inspection: Sendable {
    public let device: DeviceDescription
    public let serial: UInt32?
    public let version: FirmwareVersion?
    public let problem: String?
  }

  /// Opens a device and reads its serial and firmware version; problems are reported, not thrown.
  public func inspect(_ description: DeviceDescription) -> Inspection {
    do {
      let session = try open(description)
      defer { session.device.close() }
      let serial = try? session.serial()
      return Inspection(device: description, serial: serial, version: session.status.version, problem: nil)
    } catch {
      return Inspection(device: description, serial: nil, version: nil, problem: error.description)
    }
  }

  /// The one token the user means: by path, by serial, or the only one present.
  public func select(serial: UInt32? = nil, path: String? = nil) throws(DriverError) -> TokenSession {
    let (found, problems) = devices()
    var candidates = found
    if candidates.isEmpty, !problems.isEmpty { throw .unreachable(problems.joined(separator: "; ")) }
    if let path {
      candidates = candidates.filter { $0.path == path }
      guard !candidates.isEmpty else { throw .noMatchingToken("path \(path)") }
    }
    if let serial {
      var unopened: DriverError?
      for description in candidates {
        let session: TokenSession
        do { session = try open(description) } catch {
          unopened = unopened ?? error
          continue
        }
        if (try? session.serial()) == serial { return session }
        session.device.close()
      }
      // A token that could not be opened may be the one meant: say why (permissions, busy).
      throw unopened ?? .noMatchingToken("serial \(serial)")
    }
    guard !candidates.isEmpty else { throw .noToken }
    guard candidates.count == 1 else { throw .severalTokens(candidates) }
    return try open(candidates[0])
  }
}
