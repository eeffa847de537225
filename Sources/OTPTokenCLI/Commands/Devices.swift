import ArgumentParser
import Foundation
import HIDAPITransport
import TokenDriver
import TokenTransport

struct DevicesCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "devices",
    abstract: "List tokens: real ones through hidapi and simulated ones through their sockets.",
    discussion: """
      Each token is shown with its kind, path, serial and firmware version. Simulated tokens are
      found under $XDG_RUNTIME_DIR/otptoken/*.sock and at every --socket. With --watch, arrivals and
      departures are printed as they happen (libusb hot-plug, or polling where there is none).

      Examples:
        otptoken devices
        otptoken devices --socket /tmp/token.sock --json
        otptoken devices --watch
      """)

  @OptionGroup var devices: DeviceOptions
  @Flag(help: "Keep watching for tokens arriving and leaving.") var watch = false
  @Flag(help: "Print JSON (one object; with --watch one object per line).") var json = false

  func run() async throws {
    let discovery = try devices.discovery(json: json)
    if watch { return try await watchDevices(discovery) }
    let (found, problems) = discovery.devices()
    let rows = found.map { discovery.inspect($0) }
    for problem in problems { Output.stderr("otptoken: \(problem)") }
    if json {
      Output.json(["ok": problems.isEmpty, "devices": rows.map(Self.object), "problems": problems])
    } else if rows.isEmpty {
      Output.stderr("No token found. Plug one in, or run `otptoken sim serve` and pass --socket.")
    } else {
      for row in rows { Output.stdout(Self.line(row)) }
    }
    // A back-end that could not look (an unreachable --socket) is an environment problem.
    if !problems.isEmpty { throw ExitCode(ExitStatus.environment.rawValue) }
  }

  static func object(_ row: TokenDiscovery.Inspection) -> [String: Any] {
    var object: [String: Any] = [
      "kind": row.device.kind.rawValue, "path": row.device.path, "vendorId": Int(row.device.vendorID),
      "productId": Int(row.device.productID), "product": row.device.product,
      "usagePage": Int(row.device.usagePage), "usage": Int(row.device.usage),
    ]
    if let serial = row.serial { object["serial"] = Int(serial) }
    if let version = row.version { object["firmware"] = version.description }
    if let problem = row.problem { object["problem"] = problem }
    return object
  }

  static func line(_ row: TokenDiscovery.Inspection) -> String {
    let serial = row.serial.map(String.init) ?? "?"
    let version = row.version?.description ?? "?"
    var text =
      "\(row.device.kind.rawValue)\t\(row.device.path)\t\(row.device.vidPid)\tserial \(serial)\tfirmware \(version)\t\(row.device.product)"
    if let problem = row.problem { text += "\t(\(problem))" }
    return text
  }

  func watchDevices(_ discovery: TokenDiscovery) async throws {
    let events: AsyncStream<USBEvent>
    do {
      events = try LibUSBHotplug.events()
    } catch {
      Output.stderr("otptoken: \(error); polling every 2 s instead")
      events = PollingEvents.every(.seconds(2))
    }
    let watcher = DeviceWatcher(scan: { discovery.devices().found })
    for await change in watcher.changes(events: events) {
      let (verb, device) =
        switch change {
        case .arrived(let d): ("arrived", d)
        case .departed(let d): ("departed", d)
        }
      if json {
        Output.json([
          "event": verb, "kind": device.kind.rawValue, "path": device.path, "product": device.product,
        ])
      } else {
        Output.stdout("\(verb)\t\(device.kind.rawValue)\t\(device.path)\t\(device.vidPid)\t\(device.product)")
      }
    }
  }
}
