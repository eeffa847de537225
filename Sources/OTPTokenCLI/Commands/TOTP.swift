import ArgumentParser
import Foundation
import QRCode
import Verifier

struct TOTPCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "totp", abstract: "Phone-app (TOTP) factors: enrol, confirm, remove.",
    subcommands: [TOTPEnroll.self, TOTPConfirm.self, TOTPRemove.self])
}

struct TOTPEnroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enroll",
    abstract: "Create a phone-app factor: prints the otpauth URI, the secret to type, and a QR code.",
    discussion: """
      The factor counts only after `otptoken totp confirm` with a current code from the app, which
      also learns how far the phone's clock is off (up to 30 minutes).

      Example:
        otptoken totp enroll --user alice --qr alice.png
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The issuer shown in the app.") var issuer = "otptoken"
  @Option(help: "Also write the QR code to this file (.png or .svg).") var qr: String?
  @Flag(help: "Print one JSON object (field uri).") var json = false

  func run() throws {
    if let qr, !(qr.hasSuffix(".png") || qr.hasSuffix(".svg")) {
      throw CLIFailure(.usage, "--qr must name a .png or .svg file", json: json)
    }
    let accounts = try verifier.accounts(json: json)
    let uri = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.enrollTOTP(user: user, issuer: issuer)
    }
    let code: QRCode
    do { code = try QRCode(text: uri.string) } catch {
      throw CLIFailure(.environment, "\(error)", json: json)
    }
    if let qr {
      let bytes = qr.hasSuffix(".png") ? code.png() : Array(code.svg().utf8)
      // The QR code holds the secret: the file is created owner-only.
      let fd = open(qr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      guard fd >= 0, write(fd, bytes, bytes.count) == bytes.count else {
        if fd >= 0 { close(fd) }
        throw CLIFailure(.environment, "cannot write \(qr)", json: json)
      }
      close(fd)
    }
    if json {
      Output.json(["ok": true, "uri": uri.string, "secret": uri.secret.groupedBase32, "qr": qr ?? ""])
    } else {
      Output.stdout(code.terminal())
      Output.stdout("URI:    \(uri.string)")
      Output.stdout("secret: \(uri.secret.groupedBase32)")
      Output.stderr(
        "Scan the code (or type the secret) in the app, then: otptoken totp confirm --user \(user) CODE")
    }
  }
}

struct TOTPConfirm: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "confirm", abstract: "Activate a pending phone-app factor with a current code.",
    discussion: "Example:\n  otptoken totp confirm --user alice 492039")
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Argument(help: "The code the app shows now.") var code: String
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    let decision = try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.confirmTOTP(user: user, code: code)
    }
    try report(decision, user: user, json: json)
  }
}

struct TOTPRemove: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "remove",
    abstract: "Remove a phone app (a lost phone): its codes stop working at once.",
    discussion: """
      `otptoken user list` shows each phone app's id ("phone app 7").

      Example:
        otptoken totp remove --user alice --id 7 --force
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "The user.") var user: String
  @Option(help: "The phone app's id.") var id: Int64
  @Flag(help: "Do not ask before removing.") var force = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let accounts = try verifier.accounts(json: json)
    try askBeforeDestroying("Remove phone app \(id) of \(user)?", force: force, json: json)
    try verifierCall(json: json) { () throws(VerifierError) in
      try accounts.removePhoneApp(user: user, id: id, source: verifier.source)
    }
    if json { Output.json(["ok": true]) } else { Output.stderr("removed phone app \(id) of \(user)") }
  }
}
