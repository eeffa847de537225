import ArgumentParser
import Foundation
import OTPWire
import OneTimePassword
import TokenDriver

struct TokenCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "token",
    abstract: "Drive one token directly: read it, program an HOTP slot, read a press, delete, swap.",
    subcommands: [TokenInfo.self, TokenHOTP.self, TokenRead.self, TokenDelete.self, TokenSwap.self])
}

struct TokenInfo: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info", abstract: "Show a token's serial, firmware and which slots are programmed.",
    discussion: "Example:\n  otptoken token info --socket /tmp/token.sock")
  @OptionGroup var selection: TokenSelection
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let session = try selection.session(json: json)
    defer { session.device.close() }
    let serial = try driver(json: json) { () throws(DriverError) in try session.serial() }
    let status = session.status
    let slots = Slot.allCases.map { status.configState.isValid($0) ? "programmed" : "empty" }
    if json {
      Output.json([
        "ok": true, "serial": Int(serial), "firmware": status.version.description,
        "slot1": slots[0], "slot2": slots[1], "path": session.deviceDescription.path,
      ])
    } else {
      Output.stdout("serial \(serial), firmware \(status.version), slot 1 \(slots[0]), slot 2 \(slots[1])")
    }
  }
}

struct TokenHOTP: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hotp",
    abstract: "Program an OATH-HOTP secret into a slot.",
    discussion: """
      A fresh random 20-byte secret is generated unless --key is given; it is printed once, so a
      verifier can be seeded with it (`otptoken register` does both steps and prints nothing). A slot
      that is already programmed is overwritten only after a yes at a terminal, or with --force.

      Examples:
        otptoken token hotp --socket /tmp/token.sock --slot 2 --digits 6
        otptoken token hotp --slot 1 --key "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP" --force
      """)
  @OptionGroup var selection: TokenSelection
  @Option(help: "Slot 1 (short press) or 2 (long press).") var slot: Int = 2
  @Option(help: "The 20-byte secret, in base32 as otptoken prints it or in hex (default: fresh random).")
  var key: String?
  @Option(help: "6 or 8 digits.") var digits: Int = 6
  @Option(help: "Initial moving factor (multiple of 16).") var imf: UInt32 = 0
  @Flag(help: "Type the standard token identifier (ubhe + serial) before the code.") var tokenId = false
  @Flag(help: "Do not press Enter after the code.") var noEnter = false
  @Option(help: "The slot's current access code (12 hex digits).") var accessCode: String?
  @Option(help: "Protect the slot with this new access code (12 hex digits).") var newAccessCode: String?
  @Flag(help: "Overwrite a programmed slot without asking.") var force = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let slot = Slot(rawValue: slot) else {
      throw CLIFailure(.usage, "--slot must be 1 or 2", json: json)
    }
    let secret = try key.map { try Self.secret($0, json: json) } ?? .random(count: 20)
    let current = try parseAccessCode(accessCode, json: json)
    let new = try parseAccessCode(newAccessCode, json: json)
    let session = try selection.session(json: json)
    defer { session.device.close() }
    let serial = try driver(json: json) { () throws(DriverError) in try session.serial() }
    if session.status.configState.isValid(slot) {
      try askBeforeDestroying(
        "Slot \(slot) of token \(serial) is programmed; overwriting it destroys its credential for good.",
        force: force, json: json)
    }
    let settings = HOTPSlotSettings(
      key: secret.bytes, digits: digits, initialMovingFactor: imf,
      tokenID: tokenId ? HOTPSlotSettings.standardTokenID(serial: serial) : [], appendCR: !noEnter,
      accessCode: new)
    try driver(json: json) { () throws(DriverError) in
      try session.programHOTP(slot: slot, settings: settings, currentAccessCode: current)
    }
    if json {
      Output.json([
        "ok": true, "serial": Int(serial), "slot": slot.rawValue, "digits": digits, "counter": Int(imf),
        "secretBase32": secret.base32, "secretHex": secret.bytes.hexString(),
      ])
    } else {
      Output.stderr("Programmed slot \(slot) of token \(serial) (\(digits) digits, counter \(imf)).")
      Output.stdout("secret (base32): \(secret.groupedBase32)")
    }
  }

  /// A 20-byte secret typed as 40 hex digits or as base32 (spaces, dashes and case forgiven).
  static func secret(_ text: String, json: Bool) throws -> OTPSecret {
    if let bytes = [UInt8](hex: text), bytes.count == 20 { return OTPSecret(bytes: bytes) }
    if let secret = try? OTPSecret(base32: text), secret.bytes.count == 20 { return secret }
    throw CLIFailure(
      .usage, "--key must be 20 bytes: 32 base32 characters (as otptoken prints them) or 40 hex digits",
      json: json)
  }
}

struct TokenRead: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "read", abstract: "Wait for a button press and print the code the token typed.",
    discussion: "Example:\n  otptoken token read --socket /tmp/token.sock --timeout 30")
  @OptionGroup var selection: TokenSelection
  @Option(help: "Seconds to wait for the press.") var timeout: Int = 30
  @Option(help: "Digits in the code, if known (splits off the token identifier).") var digits: Int?
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let session = try selection.session(json: json)
    defer { session.device.close() }
    if !json { Output.stderr("Press the token's button…") }
    let reading = try driver(json: json) { () throws(DriverError) in
      try session.waitForPress(timeout: .seconds(timeout), digits: digits)
    }
    if json {
      Output.json(["ok": true, "code": reading.code.text, "tokenId": reading.tokenID])
    } else {
      Output.stdout(reading.tokenID.isEmpty ? reading.code.text : "\(reading.tokenID) \(reading.code.text)")
    }
  }
}

struct TokenDelete: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete", abstract: "Delete a slot's configuration.",
    discussion: """
      Asks first at a terminal; elsewhere (scripts, --json) it needs --force.

      Example:
        otptoken token delete --socket /tmp/token.sock --slot 2 --force
      """)
  @OptionGroup var selection: TokenSelection
  @Option(help: "Slot 1 or 2.") var slot: Int
  @Option(help: "The slot's current access code (12 hex digits).") var accessCode: String?
  @Flag(help: "Delete without asking.") var force = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    guard let slot = Slot(rawValue: slot) else {
      throw CLIFailure(.usage, "--slot must be 1 or 2", json: json)
    }
    let code = try parseAccessCode(accessCode, json: json)
    let session = try selection.session(json: json)
    defer { session.device.close() }
    let serial = try driver(json: json) { () throws(DriverError) in try session.serial() }
    try askBeforeDestroying(
      "Delete the configuration of slot \(slot) of token \(serial)? Its credential is gone for good.",
      force: force, json: json)
    try driver(json: json) { () throws(DriverError) in try session.delete(slot: slot, currentAccessCode: code)
    }
    if json {
      Output.json(["ok": true, "slot": slot.rawValue])
    } else {
      Output.stderr("Deleted slot \(slot).")
    }
  }
}

struct TokenSwap: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swap", abstract: "Exchange the two slots' configurations.",
    discussion: """
      Asks first at a terminal; elsewhere (scripts, --json) it needs --force.

      Example:
        otptoken token swap --socket /tmp/token.sock --force
      """)
  @OptionGroup var selection: TokenSelection
  @Flag(help: "Swap without asking.") var force = false
  @Flag(help: "Print one JSON object.") var json = false

  func run() throws {
    let session = try selection.session(json: json)
    defer { session.device.close() }
    let serial = try driver(json: json) { () throws(DriverError) in try session.serial() }
    try askBeforeDestroying(
      "Swap the two slots of token \(serial)? A long press will type what a short press typed.", force: force,
      json: json)
    try driver(json: json) { () throws(DriverError) in try session.swapSlots() }
    if json { Output.json(["ok": true]) } else { Output.stderr("Swapped the slots.") }
  }
}
