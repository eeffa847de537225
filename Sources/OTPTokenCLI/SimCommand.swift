import ArgumentParser
import Foundation
import OTPWire
import TokenFirmware
import TokenSimulator
import VirtualHID

#if canImport(Glibc)
  import Glibc
#endif

struct SimCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sim",
    abstract: "Run and press a simulated token (the virtual HID transport).",
    subcommands: [SimServe.self, SimPress.self])
}

/// The descriptor the signal handler writes to; set once before handlers are installed.
nonisolated(unsafe) private var stopDescriptor: Int32 = -1

struct SimServe: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Run a simulated token in the foreground, serving the virtual HID wire format.",
    discussion: """
      The token's state (serial, slots, counters) is kept in --state across restarts; the first
      start makes a fresh token. Ready when --socket accepts connections. SIGTERM or SIGINT stop it.

      Example:
        otptoken sim serve --state /tmp/token --socket /tmp/token.sock --serial 12345678
      """)

  @Option(help: "Folder holding the token's state (created 0700).") var state: String
  @Option(help: "Unix socket path to serve on.") var socket: String
  @Option(help: "Serial number of a fresh token (random if omitted).") var serial: UInt32?
  @Option(help: "USB product ID to present, in hex (default 0407, YubiKey 5 OTP+FIDO+CCID).")
  var productId: String = "0407"
  @Flag(help: "Print one JSON object when ready.") var json = false

  func run() throws {
    guard let product = UInt16(productId, radix: 16) else {
      throw CLIFailure(.usage, "--product-id must be hex, like 0407", json: json)
    }
    if let serial, serial == 0 || serial > 99_999_999 {
      throw CLIFailure(.usage, "--serial must be 1 to 99999999", json: json)
    }
    var identity = TokenIdentity.yubiKey5
    identity.productID = product
    let token: SimulatedToken
    let server: VirtualHIDServer
    do {
      let store = try DirectoryStateStore(directory: state)
      token = try SimulatedToken(serial: serial, identity: identity, store: store, clock: .system)
      server = try VirtualHIDServer(socketPath: socket, token: token)
    } catch {
      throw CLIFailure(.environment, "\(error)", json: json)
    }
    stopDescriptor = server.stopDescriptor
    let handler: @convention(c) (Int32) -> Void = { _ in
      var byte: UInt8 = 1
      _ = write(stopDescriptor, &byte, 1)
    }
    signal(SIGTERM, handler)
    signal(SIGINT, handler)
    signal(SIGPIPE, SIG_IGN)
    if json {
      Output.json(["ok": true, "socket": socket, "serial": Int(token.serial)])
    }
    Output.stderr("otptoken: simulated token \(token.serial) serving on \(socket)")
    server.run()
    Output.stderr("otptoken: simulated token \(token.serial) stopped")
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
