import ArgumentParser
import Foundation
import OTPWire
import TokenFirmware
import TokenSimulator
import VirtualHID
#if os(Linux)
  import TokenSimulatorUHID
  import TokenSimulatorUSBIP
#endif

#if canImport(Glibc)
  import Glibc
#endif

struct SimCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sim",
    abstract: "Run and press a simulated token (the virtual HID transport).",
    subcommands: [SimServe.self, SimPress.self])
}

/// The descriptors the signal handler writes to; set once before handlers are installed.
nonisolated(unsafe) private var stopDescriptors: (Int32, Int32) = (-1, -1)

struct SimServe: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract:
      "Run a simulated token in the foreground: on a Unix socket, as a kernel HID device (--uhid), or as a USB device over USB/IP (--usbip).",
    discussion: """
      The token's state (serial, slots, counters) is kept in --state across restarts; the first
      start makes a fresh token. Ready when --socket accepts connections. SIGTERM or SIGINT stop it.

      With --uhid the token also becomes a real HID device through Linux UHID (/dev/uhid, root,
      `modprobe uhid`): the kernel creates /dev/hidrawN and hosts reach it with hidapi. A press
      (`otptoken sim press --socket`) then types real key presses on this machine, so --uhid
      refuses to start outside a virtual machine unless --force-outside-vm is given. The device is
      destroyed on exit.

      With --usbip the token is exported over USB/IP on --usbip-listen (loopback port 3240 by
      default) as bus ID 1-1: `usbip attach -r 127.0.0.1 -b 1-1` (vhci-hcd loaded) plugs it into
      that machine as a YubiKey 5, and `usbip detach` or stopping the simulator unplugs it. Once
      attached, a press types into whatever window has the focus there.

      Examples:
        otptoken sim serve --state /tmp/token --socket /tmp/token.sock --serial 12345678
        otptoken sim serve --uhid --state /tmp/token --socket /tmp/press.sock
        otptoken sim serve --usbip --state /tmp/token --socket /tmp/press.sock
      """)

  @Option(help: "Folder holding the token's state (created 0700).") var state: String
  @Option(help: "Unix socket path to serve on (with --uhid optional: presses come through it).")
  var socket: String?
  @Option(help: "Serial number of a fresh token (random if omitted).") var serial: UInt32?
  @Option(help: "USB product ID to present, in hex (default 0407, YubiKey 5 OTP+FIDO+CCID).")
  var productId: String = "0407"
  @Flag(help: "Also register the token with the kernel through /dev/uhid (Linux, root, a VM).") var uhid =
    false
  @Flag(help: "Allow --uhid on a machine that is not a virtual machine.") var forceOutsideVm = false
  @Flag(help: "Also export the token over USB/IP, for `usbip attach` (Linux).") var usbip = false
  @Option(help: "Address and port for --usbip: 127.0.0.1:3240, [::1]:3240.") var usbipListen =
    "127.0.0.1:3240"
  @Option(help: "Append what USB/IP clients send to this file, in hex (recordings for tests).")
  var usbipTrace: String?
  @Flag(help: "Print one JSON object when ready.") var json = false

  func run() throws {
    guard let product = UInt16(productId, radix: 16) else {
      throw CLIFailure(.usage, "--product-id must be hex, like 0407", json: json)
    }
    if let serial, serial == 0 || serial > 99_999_999 {
      throw CLIFailure(.usage, "--serial must be 1 to 99999999", json: json)
    }
    guard uhid || usbip || socket != nil else {
      throw CLIFailure(.usage, "give --socket, --uhid, --usbip, or --socket with one of them", json: json)
    }
    guard !(uhid && usbip) else {
      throw CLIFailure(.usage, "--uhid and --usbip are two ways to plug the token in: give one", json: json)
    }
    guard !(usbipTrace != nil && !usbip) else {
      throw CLIFailure(.usage, "--usbip-trace needs --usbip", json: json)
    }
    #if os(Linux)
      if uhid && !forceOutsideVm && !VirtualMachineCheck.current() {
        throw CLIFailure(.environment, "\(UHIDError.notInVirtualMachine)", json: json)
      }
    #else
      if uhid || usbip { throw CLIFailure(.environment, "--uhid and --usbip need Linux", json: json) }
    #endif
    var identity = TokenIdentity.yubiKey5
    identity.productID = product
    let token: SimulatedToken
    do {
      let store = try DirectoryStateStore(directory: state)
      token = try SimulatedToken(serial: serial, identity: identity, store: store, clock: .system)
    } catch {
      throw CLIFailure(.environment, "\(error)", json: json)
    }
    #if os(Linux)
      if uhid { return try serveUHID(token) }
      if usbip { return try serveUSBIP(token) }
    #endif
    let server: VirtualHIDServer
    do {
      server = try VirtualHIDServer(socketPath: socket ?? "", token: token)
    } catch {
      throw CLIFailure(.environment, "\(error)", json: json)
    }
    handleStopSignals(server.stopDescriptor, -1)
    announce(token, "serving on \(socket ?? "")")
    server.run()
    Output.stderr("otptoken: simulated token \(token.serial) stopped")
  }

  #if os(Linux)
    /// The kernel device on this thread; the press socket, if any, on a thread of its own.
    private func serveUHID(_ token: SimulatedToken) throws {
      let device: UHIDFrontEnd
      var server: VirtualHIDServer?
      do {
        device = try UHIDFrontEnd(token: token) { Output.stderr("otptoken: \($0)") }
        if let socket {
          server = try VirtualHIDServer(socketPath: socket, token: token) { reports in
            do { try device.type(reports) } catch { Output.stderr("otptoken: \(error)") }
          }
        }
        try device.create()
      } catch {
        throw CLIFailure(.environment, "\(error)", json: json)
      }
      handleStopSignals(device.stopDescriptor, server?.stopDescriptor ?? -1)
      announce(
        token, "registered as \(device.name) through UHID" + (socket.map { ", presses on \($0)" } ?? ""))
      run(device.run, pressSocket: server)
      Output.stderr("otptoken: simulated token \(token.serial) stopped; UHID device destroyed")
    }
  #endif

  #if os(Linux)
    /// The USB/IP port on this thread; the press socket, if any, on a thread of its own.
    private func serveUSBIP(_ token: SimulatedToken) throws {
      guard let (host, port) = Self.hostAndPort(usbipListen) else {
        throw CLIFailure(
          .usage, "--usbip-listen must be ADDRESS:PORT, like 127.0.0.1:3240 or [::1]:3240", json: json)
      }
      let device: USBIPServer
      var server: VirtualHIDServer?
      do {
        // The file is opened once the port is bound, so a refused start creates nothing.
        let trace = HexTrace()
        var record: (@Sendable (Int, [UInt8]) -> Void)?
        if usbipTrace != nil {
          record = { connection, bytes in trace.append(connection: connection, bytes: bytes) }
        }
        device = try USBIPServer(
          token: token, address: host, port: port, log: { Output.stderr("otptoken: \($0)") }, trace: record)
        if let usbipTrace { try trace.open(usbipTrace) }
        if let socket {
          server = try VirtualHIDServer(socketPath: socket, token: token) { device.type($0) }
        }
      } catch let failure as CLIFailure {
        throw failure
      } catch {
        throw CLIFailure(.environment, "\(error)", json: json)
      }
      handleStopSignals(device.stopDescriptor, server?.stopDescriptor ?? -1)
      let shown = host.contains(":") ? "[\(host)]" : host
      announce(
        token,
        "exported over USB/IP on \(shown):\(device.port) as bus ID 1-1"
          + (socket.map { ", presses on \($0)" } ?? ""), usbipPort: device.port)
      run(device.run, pressSocket: server)
      Output.stderr("otptoken: simulated token \(token.serial) stopped; USB/IP port closed")
    }

    /// Runs a front end on this thread and the press socket, if any, on a thread of its own, until
    /// the front end returns; then stops the socket.
    private func run(_ frontEnd: () -> Void, pressSocket server: VirtualHIDServer?) {
      let socketDone = DispatchSemaphore(value: 0)
      if let server {
        Thread {
          server.run()
          socketDone.signal()
        }.start()
      }
      frontEnd()
      if let server {
        server.stop()
        socketDone.wait()
      }
    }

    /// "127.0.0.1:3240" or "[::1]:3240"; port 0 picks a free one.
    static func hostAndPort(_ text: String) -> (String, UInt16)? {
      guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        return nil
      }
      var host = String(text[..<colon])
      if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
      return host.isEmpty ? nil : (host, port)
    }
  #endif

  private func handleStopSignals(_ first: Int32, _ second: Int32) {
    stopDescriptors = (first, second)
    let handler: @convention(c) (Int32) -> Void = { _ in
      var byte: UInt8 = 1
      _ = write(stopDescriptors.0, &byte, 1)
      if stopDescriptors.1 >= 0 { _ = write(stopDescriptors.1, &byte, 1) }
    }
    signal(SIGTERM, handler)
    signal(SIGINT, handler)
    signal(SIGPIPE, SIG_IGN)
  }

  private func announce(_ token: SimulatedToken, _ how: String, usbipPort: UInt16? = nil) {
    if json {
      var object: [String: Any] = ["ok": true, "serial": Int(token.serial), "uhid": uhid]
      if let socket { object["socket"] = socket }
      if let usbipPort { object["usbipPort"] = Int(usbipPort) }
      Output.json(object)
    }
    Output.stderr("otptoken: simulated token \(token.serial) \(how)")
  }
}

/// The --usbip-trace file: one line per read, "CONNECTION HEX", created 0600 and appended to.
/// Opened before the server runs; lines before that (there are none) would be dropped.
private final class HexTrace: @unchecked Sendable {
  private var fd: Int32 = -1

  func open(_ path: String) throws {
    fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw CLIFailure(.environment, "cannot open \(path): \(String(cString: strerror(errno)))", json: false)
    }
  }

  deinit { if fd >= 0 { close(fd) } }

  func append(connection: Int, bytes: [UInt8]) {
    guard fd >= 0 else { return }
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    let line = Array("\(connection) \(hex)\n".utf8)
    _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
  }
}

struct SimPress: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "press",
    abstract: "Press a simulated token's button and print what it typed.",
    discussion: """
      Example:
        otptoken sim press --socket /tmp/token.sock --slot 2
      """)

  @Option(help: "The simulated token's socket.") var socket: String
  @Option(help: "Slot to trigger: 1 (short press) or 2 (long press).") var slot: Int = 2
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let slot = Slot(rawValue: slot) else {
      throw CLIFailure(.usage, "--slot must be 1 or 2", json: json)
    }
    let text: String
    do {
      let client = try VirtualHIDClient(path: socket)
      try client.press(slot: slot.rawValue)
      var decoder = KeyboardDecoder()
      // Every INPUT of this press arrives before the press is acknowledged.
      while let bytes = try client.readInput(timeoutMilliseconds: 0) {
        try decoder.feed(try KeyboardReport(bytes: bytes))
      }
      text = decoder.text
    } catch let error as VirtualHIDError {
      throw CLIFailure(.environment, "simulated token at \(socket): \(error)", json: json)
    } catch {
      throw CLIFailure(
        .environment, "simulated token at \(socket) typed something unreadable: \(error)", json: json)
    }
    if json {
      Output.json(["ok": true, "typed": text, "slot": slot.rawValue])
    } else {
      let shown = text.replacingOccurrences(of: "\r", with: "\n").replacingOccurrences(of: "\t", with: "⇥")
      FileHandle.standardOutput.write(Data((shown.hasSuffix("\n") ? shown : shown + "\n").utf8))
    }
  }
}
