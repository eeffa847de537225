import ArgumentParser
import Foundation
import HIDAPITransport
#if canImport(Glibc)
  import Glibc
#endif

struct DoctorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Check that this machine can reach tokens: hidapi, libusb, hidraw permissions, udev rules.",
    discussion: """
      Exit status 0 when everything needed is in place, 3 when something is missing; each finding
      says what to do.

      Example:
        otptoken doctor
      """)

  @Flag(help: "Print one JSON object.") var json = false

  static let ruleLocations = [
    "/etc/udev/rules.d/69-otptoken.rules", "/usr/lib/udev/rules.d/69-otptoken.rules",
    "/etc/udev/rules.d/70-otptoken-plugdev.rules", "/etc/udev/rules.d/69-yubikey.rules",
    "/usr/lib/udev/rules.d/69-yubikey.rules", "/lib/udev/rules.d/69-yubikey.rules",
  ]

  func run() throws {
    var checks: [[String: Any]] = []
    var healthy = true
    func check(_ name: String, _ ok: Bool, _ detail: String, required: Bool = true) {
      checks.append(["check": name, "ok": ok, "detail": detail])
      if !ok && required { healthy = false }
      if !json { Output.stdout("\(ok ? "ok  " : (required ? "FAIL" : "warn"))  \(name): \(detail)") }
    }

    check("hidapi", true, "libhidapi-hidraw \(HIDAPIBackend.libraryVersion)")
    if let version = LibUSBHotplug.libraryVersion {
      check("libusb", true, "libusb \(version)")
    } else {
      check("libusb", false, "libusb-1.0 is missing: sudo apt-get install libusb-1.0-0", required: false)
    }
    switch Result(catching: { try LibUSBHotplug.events() }) {
    case .success: check("hot-plug", true, "libusb reports USB arrivals and departures")
    case .failure(let error):
      check("hot-plug", false, "\(error); `devices --watch` polls instead", required: false)
    }

    let installed = Self.ruleLocations.filter { FileManager.default.fileExists(atPath: $0) }
    check(
      "udev rules", !installed.isEmpty,
      installed.isEmpty
        ? "not installed: sudo cp udev/69-otptoken.rules /etc/udev/rules.d/ && sudo udevadm control --reload && sudo udevadm trigger"
        : installed.joined(separator: ", "), required: false)

    let tokens = (try? HIDAPIBackend().enumerate()) ?? []
    if tokens.isEmpty {
      check("tokens", true, "no real token plugged in (nothing to check permissions on)", required: false)
    }
    for token in tokens {
      let ok = access(token.path, R_OK | W_OK) == 0
      check(
        "access \(token.path)", ok,
        ok
          ? "\(token.product) (\(token.vidPid)) can be opened by this user"
          : "\(token.product) (\(token.vidPid)) cannot be opened by this user: install the udev rules (see above), then replug the token"
      )
    }
    if json { Output.json(["ok": healthy, "checks": checks]) }
    if !healthy { throw ExitCode(ExitStatus.environment.rawValue) }
  }
}
