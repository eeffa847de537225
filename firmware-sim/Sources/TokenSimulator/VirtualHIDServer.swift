import Foundation
import OTPWire
import VirtualHID

#if canImport(Glibc)
  import Glibc
#endif

/// Serves one simulated token on a Unix socket in the virtual HID wire format (see
/// firmware-sim/WIRE.md): several clients at once, each answered in order, every input report
/// sent to every client. A malformed message earns its sender an ERROR and a closed connection;
/// the token and the other clients go on.
///
/// One thread runs ``run()``; ``stop()`` may be called from any thread or signal handler path.
public final class VirtualHIDServer: @unchecked Sendable {
  /// A client whose unread output grows past this is dropped (it stopped reading).
  public static let maximumPendingOutput = 1 << 20

  public let socketPath: String
  public let token: SimulatedToken
  private let listenFD: Int32
  private let wakeRead: Int32
  private let wakeWrite: Int32
  private var clients: [Int32: Client] = [:]
  private let typed: @Sendable ([KeyboardReport]) -> Void
  /// Connections served at once; more wait in the kernel's queue until one leaves.
  public let maximumClients: Int
  /// How long accepting stops after the process ran out of descriptors.
  public static let acceptPauseMilliseconds: Int32 = 100
  private var acceptResumes = DispatchTime.now()

  private struct Client {
    var decoder = VirtualHIDDecoder()
    var output: [UInt8] = []
    var closeAfterFlush = false
  }

  /// Binds the socket; the token is served once ``run()`` is called. `typed` also receives what
  /// each press typed (the UHID front end sends it to the kernel).
  public init(
    socketPath: String, token: SimulatedToken, maximumClients: Int = 256,
    typed: @escaping @Sendable ([KeyboardReport]) -> Void = { _ in }
  ) throws {
    self.maximumClients = max(1, maximumClients)
    self.socketPath = socketPath
    self.token = token
    self.typed = typed
    listenFD = try UnixSocket.listen(path: socketPath)
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw VirtualHIDError.io("pipe failed") }
    wakeRead = fds[0]
    wakeWrite = fds[1]
    for fd in [listenFD, wakeRead, wakeWrite] { setNonBlocking(fd) }
  }

  /// Asks ``run()`` to return; safe from any thread (it writes one byte to a pipe).
  public func stop() {
    var byte: UInt8 = 1
    _ = write(wakeWrite, &byte, 1)
  }

  /// The descriptor a signal handler may write one byte to in order to stop the server.
  public var stopDescriptor: Int32 { wakeWrite }

  /// Serves until ``stop()``; then closes every connection and removes the socket file.
  ///
  /// New connections wait in the kernel's queue while ``maximumClients`` are connected, and for
  /// ``acceptPauseMilliseconds`` after the process ran out of descriptors, instead of the loop spinning on a
  /// listening socket it cannot accept from.
  public func run() {
    defer { shutdown() }
    while true {
      let accepting = clients.count < maximumClients && DispatchTime.now() >= acceptResumes
      var entries = [
        pollfd(fd: listenFD, events: accepting ? Int16(POLLIN) : 0, revents: 0),
        pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
      ]
      for (fd, client) in clients {
        var events = Int16(POLLIN)
        if !client.output.isEmpty { events |= Int16(POLLOUT) }
        entries.append(pollfd(fd: fd, events: events, revents: 0))
      }
      let paused = clients.count < maximumClients && !accepting
      let ready = poll(&entries, nfds_t(entries.count), paused ? Self.acceptPauseMilliseconds : -1)
      if ready < 0 {
        if errno == EINTR { continue }
        return
      }
      if entries[1].revents != 0 { return }
      if entries[0].revents & Int16(POLLIN) != 0 { acceptClients() }
      for entry in entries.dropFirst(2) where entry.revents != 0 {
        if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readFrom(entry.fd) }
        if clients[entry.fd] != nil && entry.revents & Int16(POLLOUT) != 0 { flush(entry.fd) }
      }
    }
  }

  private func shutdown() {
    for fd in clients.keys { close(fd) }
    clients = [:]
    close(listenFD)
    close(wakeRead)
    close(wakeWrite)
    unlink(socketPath)
  }

  private func setNonBlocking(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
  }

  private func acceptClients() {
    while clients.count < maximumClients {
      let fd = accept(listenFD, nil, nil)
      guard fd >= 0 else {
        if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
          acceptResumes = DispatchTime.now() + .milliseconds(Int(Self.acceptPauseMilliseconds))
        }
        return
      }
      _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
      setNonBlocking(fd)
      clients[fd] = Client()
    }
  }

  private func drop(_ fd: Int32) {
    clients[fd] = nil
    close(fd)
  }

  private func readFrom(_ fd: Int32) {
    var buffer = [UInt8](repeating: 0, count: 16384)
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
    guard count > 0 else {
      drop(fd)
      return
    }
    clients[fd]?.decoder.append(buffer[0..<count])
    while var client = clients[fd], !client.closeAfterFlush {
      let message: VirtualHIDMessage?
      do { message = try client.decoder.next() } catch {
        refuse(fd, "\(error)")
        break
      }
      guard let message else { break }
      clients[fd] = client
      handle(message, from: fd)
      client = clients[fd] ?? client
    }
    flush(fd)
  }

  /// Sends an ERROR and closes the connection once it has been written.
  private func refuse(_ fd: Int32, _ reason: String) {
    guard clients[fd] != nil else { return }
    clients[fd]!.output += VirtualHIDMessage.error(reason).bytes
    clients[fd]!.closeAfterFlush = true
  }

  private func send(_ message: VirtualHIDMessage, to fd: Int32) {
    guard clients[fd] != nil else { return }
    clients[fd]!.output += message.bytes
    if clients[fd]!.output.count > Self.maximumPendingOutput { drop(fd) }
  }

  private func flush(_ fd: Int32) {
    guard var client = clients[fd] else { return }
    while !client.output.isEmpty {
      let written = client.output.withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if written < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN { break }
        drop(fd)
        return
      }
      client.output.removeFirst(written)
    }
    clients[fd] = client
    if client.output.isEmpty && client.closeAfterFlush { drop(fd) }
  }

  private func handle(_ message: VirtualHIDMessage, from fd: Int32) {
    switch message.kind {
    case .getInfo:
      guard message.payload.isEmpty else { return refuse(fd, "GET_INFO carries no payload") }
      send(VirtualHIDMessage(.info, payload: infoJSON()), to: fd)
    case .setFeature:
      guard let report = try? FeatureReport(bytes: message.payload) else {
        return refuse(fd, "SET_FEATURE carries exactly 8 bytes, got \(message.payload.count)")
      }
      token.setFeatureReport(report)
      send(VirtualHIDMessage(.setFeatureDone), to: fd)
    case .getFeature:
      guard message.payload.isEmpty else { return refuse(fd, "GET_FEATURE carries no payload") }
      send(VirtualHIDMessage(.feature, payload: token.getFeatureReport().bytes), to: fd)
    case .output:
      guard message.payload.count <= 64 else { return refuse(fd, "OUTPUT report longer than 64 bytes") }
      send(VirtualHIDMessage(.outputDone), to: fd)
    case .press:
      guard message.payload.count == 1, let slot = Slot(rawValue: Int(message.payload[0])) else {
        return refuse(fd, "PRESS carries one byte, the slot 1 or 2")
      }
      let reports = token.press(slot)
      typed(reports)
      for client in clients.keys.sorted() {
        for report in reports { send(VirtualHIDMessage(.input, payload: report.bytes), to: client) }
      }
      send(VirtualHIDMessage(.pressDone), to: fd)
    default:
      refuse(fd, "message kind 0x\(String(message.kind.rawValue, radix: 16)) is sent by the token, not to it")
    }
  }

  private func infoJSON() -> [UInt8] {
    let identity = token.identity
    let info = VirtualHIDDeviceInfo(
      vendorId: identity.vendorID, productId: identity.productID, release: identity.releaseBCD,
      usagePage: OTPInterface.usagePage, usage: OTPInterface.usage, serial: String(token.serial),
      manufacturer: identity.manufacturer, product: identity.product,
      reportDescriptor: OTPInterface.reportDescriptor.hexString())
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Array((try? encoder.encode(info)) ?? Data("{}".utf8))
  }
}
