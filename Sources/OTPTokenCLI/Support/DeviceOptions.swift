import ArgumentParser
import Foundation
import HIDAPITransport
import OTPWire
import TokenDriver
import TokenTransport

/// Options every command that finds tokens shares.
struct DeviceOptions: ParsableArguments {
  @Option(help: "A simulated token's socket (repeatable).") var socket: [String] = []
  @Option(help: "Also accept this USB vendor:product as a token, e.g. 20a0:4287 (repeatable).")
  var product: [String] = []
  @Flag(help: "Do not look for real tokens through hidapi.") var noHidapi = false
  @Option(help: "Folder of simulated tokens' sockets (default: $XDG_RUNTIME_DIR/otptoken).")
  var socketDir: String?

  func discovery(json: Bool) throws -> TokenDiscovery {
    var extra: [(vendor: UInt16, product: UInt16)] = []
    for pair in product {
      let parts = pair.split(separator: ":")
      guard parts.count == 2, let v = UInt16(parts[0], radix: 16), let p = UInt16(parts[1], radix: 16) else {
        throw CLIFailure(.usage, "--product takes vendor:product in hex, like 1050:0407", json: json)
      }
      extra.append((v, p))
    }
    // Real tokens through hidapi, then simulated tokens' sockets: explicit ones and those under
    // $XDG_RUNTIME_DIR/otptoken/.
    var backends: [any DeviceBackend] = []
    if !noHidapi { backends.append(HIDAPIBackend(extraProducts: extra)) }
    backends.append(
      SocketBackend(paths: socket, searchDirectory: socketDir ?? SocketBackend.defaultDirectory))
    return TokenDiscovery(backends: backends)
  }
}

/// Which token to use, and how to reach it.
struct TokenSelection: ParsableArguments {
  @OptionGroup var devices: DeviceOptions
  @Option(help: "The token's serial number.") var serial: UInt32?
  @Option(help: "The token's hidraw path or socket path.") var device: String?

  func session(json: Bool) throws -> TokenSession {
    var options = devices
    if let device, device.hasSuffix(".sock") || !device.hasPrefix("/dev/") { options.socket.append(device) }
    do {
      return try options.discovery(json: json).select(serial: serial, path: device)
    } catch let error as DriverError {
      throw CLIFailure(error.isEnvironmental ? .environment : .refused, error.description, json: json)
    }
  }
}

/// Runs a driver call, turning its errors into documented exit statuses.
func driver<T>(json: Bool, _ body: () throws(DriverError) -> T) throws -> T {
  do { return try body() } catch {
    switch error {
    case .invalidArgument: throw CLIFailure(.usage, error.description, json: json)
    case .refused, .unreadablePress: throw CLIFailure(.refused, error.description, json: json)
    default: throw CLIFailure(.environment, error.description, json: json)
    }
  }
}

func parseAccessCode(_ hex: String?, json: Bool) throws -> AccessCode {
  guard let hex else { return .none }
  guard let bytes = [UInt8](hex: hex), let code = try? AccessCode(bytes: bytes) else {
    throw CLIFailure(.usage, "an access code is 12 hex digits (6 bytes)", json: json)
  }
  return code
}
