/// extFlags of a slot configuration.
public struct ExtendedFlags: OptionSet, Sendable, Hashable, Codable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let serialButtonVisible = ExtendedFlags(rawValue: 0x01)
  public static let serialUSBVisible = ExtendedFlags(rawValue: 0x02)
  public static let serialAPIVisible = ExtendedFlags(rawValue: 0x04)
  public static let useNumericKeypad = ExtendedFlags(rawValue: 0x08)
  public static let fastTrigger = ExtendedFlags(rawValue: 0x10)
  public static let allowUpdate = ExtendedFlags(rawValue: 0x20)
  public static let dormant = ExtendedFlags(rawValue: 0x40)
  public static let ledInverted = ExtendedFlags(rawValue: 0x80)
  /// The bits an update command may change.
  public static let updateMask: UInt8 = 0xFF
}

/// tktFlags of a slot configuration.
public struct TicketFlags: OptionSet, Sendable, Hashable, Codable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let tabFirst = TicketFlags(rawValue: 0x01)
  public static let appendTab1 = TicketFlags(rawValue: 0x02)
  public static let appendTab2 = TicketFlags(rawValue: 0x04)
  public static let appendDelay1 = TicketFlags(rawValue: 0x08)
  public static let appendDelay2 = TicketFlags(rawValue: 0x10)
  public static let appendCR = TicketFlags(rawValue: 0x20)
  /// OATH-HOTP, or challenge-response when cfgFlags say so.
  public static let oathHOTP = TicketFlags(rawValue: 0x40)
  public static let challengeResponse = TicketFlags(rawValue: 0x40)
  public static let protectConfig2 = TicketFlags(rawValue: 0x80)
  /// The bits an update command may change.
  public static let updateMask: UInt8 = 0x3F
}

/// cfgFlags of a slot configuration; the meaning of a bit depends on the slot's mode.
public struct ConfigFlags: OptionSet, Sendable, Hashable, Codable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let sendReference = ConfigFlags(rawValue: 0x01)
  public static let shortTicket = ConfigFlags(rawValue: 0x02)
  public static let pacing10ms = ConfigFlags(rawValue: 0x04)
  public static let pacing20ms = ConfigFlags(rawValue: 0x08)
  public static let staticTicket = ConfigFlags(rawValue: 0x20)
  public static let manualUpdate = ConfigFlags(rawValue: 0x80)
  // OATH-HOTP mode
  public static let oathHOTP8 = ConfigFlags(rawValue: 0x02)
  public static let oathFixedModhex1 = ConfigFlags(rawValue: 0x10)
  public static let oathFixedModhex2 = ConfigFlags(rawValue: 0x40)
  public static let oathFixedModhex: ConfigFlags = [.oathFixedModhex1, .oathFixedModhex2]
  // challenge-response mode
  public static let hmacLessThan64 = ConfigFlags(rawValue: 0x04)
  public static let challengeButtonTrigger = ConfigFlags(rawValue: 0x08)
  public static let challengeYubico = ConfigFlags(rawValue: 0x20)
  public static let challengeHMAC = ConfigFlags(rawValue: 0x22)
  /// The bits an update command may change.
  public static let updateMask: UInt8 = 0x0C
}

/// What a slot does, derived from its flags as ykpers decides it.
public enum SlotMode: String, Sendable, Hashable, Codable {
  case yubicoOTP, staticTicket, oathHOTP, challengeResponseYubico, challengeResponseHMAC
}

/// A 6-byte slot access code. All zeros means "no access code".
public struct AccessCode: Sendable, Hashable, Codable, CustomStringConvertible {
  public static let size = 6
  public let bytes: [UInt8]
  public static let none = AccessCode(unchecked: [UInt8](repeating: 0, count: size))

  public init(bytes: [UInt8]) throws(WireError) {
    guard bytes.count == Self.size else {
      throw .wrongLength(field: "access code", expected: Self.size, actual: bytes.count)
    }
    self.bytes = bytes
  }
  init(unchecked bytes: [UInt8]) { self.bytes = bytes }

  /// Whether this is the all-zero "no access code".
  public var isNone: Bool { bytes.allSatisfy { $0 == 0 } }

  /// Compares in time independent of where the codes differ.
  public func matches(_ other: AccessCode) -> Bool {
    var difference: UInt8 = 0
    for (a, b) in zip(bytes, other.bytes) { difference |= a ^ b }
    return difference == 0
  }

  /// Access codes are secrets: never printed.
  public var description: String { isNone ? "AccessCode(none)" : "AccessCode(set)" }
}

/// How the token identifier prefix of an OATH-HOTP slot is typed.
public enum TokenIDEncoding: String, Sendable, Hashable, Codable, CaseIterable {
  /// Every byte as two digits.
  case numeric
  /// The first byte (OMP) in modhex, the rest as digits.
  case modhexOMP
  /// The first two bytes (OMP and TT) in modhex, the rest as digits: the usual "ubhe12345678".
  case modhexOMPAndTT
  /// Every byte in modhex.
  case modhexAll

  /// The cfgFlags bits for this encoding.
  public var flags: ConfigFlags {
    switch self {
    case .numeric: return []
    case .modhexOMP: return .oathFixedModhex1
    case .modhexOMPAndTT: return .oathFixedModhex2
    case .modhexAll: return .oathFixedModhex
    }
  }

  /// The encoding named by cfgFlags.
  public init(flags: ConfigFlags) {
    switch flags.intersection(.oathFixedModhex) {
    case .oathFixedModhex: self = .modhexAll
    case .oathFixedModhex2: self = .modhexOMPAndTT
    case .oathFixedModhex1: self = .modhexOMP
    default: self = .numeric
    }
  }

  /// How many leading bytes are typed in modhex, of `count`.
  public func modhexPrefixLength(of count: Int) -> Int {
    switch self {
    case .numeric: return 0
    case .modhexOMP: return min(1, count)
    case .modhexOMPAndTT: return min(2, count)
    case .modhexAll: return count
    }
  }
}

/// The 52-byte slot configuration: fixed(16) uid(6) key(16) accCode(6) fixedSize extFlags tktFlags
/// cfgFlags rfu(2) crc(2), the CRC being ~CRC16 of the first 50 bytes, little-endian.
public struct SlotConfiguration: Sendable, Hashable {
  public static let size = 52

  public var fixed: [UInt8]
  public var uid: [UInt8]
  public var key: [UInt8]
  /// The access code stored with this configuration (protects the slot from now on).
  public var accessCode: AccessCode
  public var fixedSize: UInt8
  public var extFlags: ExtendedFlags
  public var ticketFlags: TicketFlags
  public var configFlags: ConfigFlags
  public var reserved: UInt16

  /// An all-zero configuration: written to a slot, it deletes it.
  public static let empty = SlotConfiguration(
    fixed: [UInt8](repeating: 0, count: 16), uid: [UInt8](repeating: 0, count: 6),
    key: [UInt8](repeating: 0, count: 16), accessCode: .none, fixedSize: 0, extFlags: [],
    ticketFlags: [], configFlags: [], reserved: 0)

  public init(
    fixed: [UInt8], uid: [UInt8], key: [UInt8], accessCode: AccessCode, fixedSize: UInt8,
    extFlags: ExtendedFlags, ticketFlags: TicketFlags, configFlags: ConfigFlags,
    reserved: UInt16 = 0
  ) {
    precondition(fixed.count == 16 && uid.count == 6 && key.count == 16)
    self.fixed = fixed
    self.uid = uid
    self.key = key
    self.accessCode = accessCode
    self.fixedSize = fixedSize
    self.extFlags = extFlags
    self.ticketFlags = ticketFlags
    self.configFlags = configFlags
    self.reserved = reserved
  }

  /// Decodes 52 bytes; the CRC must check out unless every byte is zero (a delete request).
  public init(bytes: some Collection<UInt8>) throws(WireError) {
    let b = Array(bytes)
    guard b.count == Self.size else {
      throw .wrongLength(field: "slot configuration", expected: Self.size, actual: b.count)
    }
    if b.allSatisfy({ $0 == 0 }) {
      self = .empty
      return
    }
    guard CRC16.hasValidComplement(b) else { throw .badCRC(what: "slot configuration") }
    self.init(
      fixed: Array(b[0..<16]), uid: Array(b[16..<22]), key: Array(b[22..<38]),
      accessCode: AccessCode(unchecked: Array(b[38..<44])), fixedSize: b[44],
      extFlags: ExtendedFlags(rawValue: b[45]), ticketFlags: TicketFlags(rawValue: b[46]),
      configFlags: ConfigFlags(rawValue: b[47]), reserved: UInt16(b[48]) | UInt16(b[49]) << 8)
  }

  /// Whether every field is zero (the delete request).
  public var isEmpty: Bool { self == .empty }

  /// The 52 bytes, CRC included (an empty configuration encodes as 52 zero bytes).
  public var bytes: [UInt8] {
    if isEmpty { return [UInt8](repeating: 0, count: Self.size) }
    var b = fixed + uid + key + accessCode.bytes
    b += [fixedSize, extFlags.rawValue, ticketFlags.rawValue, configFlags.rawValue]
    b += [UInt8(reserved & 0xFF), UInt8(reserved >> 8)]
    return CRC16.appendingComplement(to: b)
  }

  /// The mode the flags select, in ykpers' order of tests.
  public var mode: SlotMode {
    if ticketFlags.contains(.challengeResponse) {
      if configFlags.isSuperset(of: .challengeHMAC) { return .challengeResponseHMAC }
      if configFlags.contains(.challengeYubico) { return .challengeResponseYubico }
      return .oathHOTP
    }
    return configFlags.contains(.staticTicket) ? .staticTicket : .yubicoOTP
  }

  /// The payload of a configure or update command: this configuration followed by the access
  /// code currently protecting the slot.
  public func commandPayload(currentAccessCode: AccessCode = .none) -> [UInt8] {
    bytes + currentAccessCode.bytes
  }
}

/// The parts of an OATH-HOTP slot, as stored in a ``SlotConfiguration``.
public struct HOTPSlotSettings: Sendable, Hashable {
  public static let keySize = 20
  /// The largest initial moving factor a slot can hold (a multiple of 16).
  public static let maximumMovingFactor: UInt32 = 0xFFFF0

  /// The 20-byte HMAC-SHA1 secret.
  public var key: [UInt8]
  /// 6 or 8.
  public var digits: Int
  /// The counter of the first press; a multiple of 16 up to 1,048,560.
  public var initialMovingFactor: UInt32
  /// The optional token identifier prefix (usually 6 bytes: OMP, TT and four BCD bytes of the MUI).
  public var tokenID: [UInt8]
  public var tokenIDEncoding: TokenIDEncoding
  public var appendCR: Bool
  /// The access code to protect the slot with from now on.
  public var accessCode: AccessCode
  /// Extra extended flags; yubikit sets SERIAL_API_VISIBLE, FAST_TRIG and ALLOW_UPDATE.
  public var extFlags: ExtendedFlags
  /// Extra ticket flags (tabs, delays).
  public var extraTicketFlags: TicketFlags

  public init(
    key: [UInt8], digits: Int = 6, initialMovingFactor: UInt32 = 0, tokenID: [UInt8] = [],
    tokenIDEncoding: TokenIDEncoding = .modhexOMPAndTT, appendCR: Bool = true,
    accessCode: AccessCode = .none,
    extFlags: ExtendedFlags = [.serialAPIVisible, .fastTrigger, .allowUpdate],
    extraTicketFlags: TicketFlags = []
  ) {
    self.key = key
    self.digits = digits
    self.initialMovingFactor = initialMovingFactor
    self.tokenID = tokenID
    self.tokenIDEncoding = tokenIDEncoding
    self.appendCR = appendCR
    self.accessCode = accessCode
    self.extFlags = extFlags
    self.extraTicketFlags = extraTicketFlags
  }

  /// The configuration that programs these settings, laid out as ykpers and yubikit do:
  /// key bytes 0–15 in `key`, 16–19 in `uid[0..3]`, IMF/16 big-endian in `uid[4..5]`.
  public func configuration() throws(WireError) -> SlotConfiguration {
    guard key.count == Self.keySize else {
      throw .wrongLength(field: "HOTP key", expected: Self.keySize, actual: key.count)
    }
    guard digits == 6 || digits == 8 else {
      throw .outOfRange(field: "digits", detail: "\(digits); a token types 6 or 8")
    }
    guard initialMovingFactor % 16 == 0, initialMovingFactor <= Self.maximumMovingFactor else {
      throw .outOfRange(
        field: "initial moving factor",
        detail: "\(initialMovingFactor); must be a multiple of 16 up to 1048560")
    }
    guard tokenID.count <= 16 else {
      throw .outOfRange(field: "token identifier", detail: "\(tokenID.count) bytes, at most 16")
    }
    let imf16 = UInt16(initialMovingFactor >> 4)
    var ticket: TicketFlags = [.oathHOTP]
    ticket.formUnion(extraTicketFlags.intersection(TicketFlags(rawValue: TicketFlags.updateMask)))
    if appendCR { ticket.insert(.appendCR) } else { ticket.remove(.appendCR) }
    var cfg = tokenIDEncoding.flags
    if digits == 8 { cfg.insert(.oathHOTP8) }
    return SlotConfiguration(
      fixed: tokenID + [UInt8](repeating: 0, count: 16 - tokenID.count),
      uid: Array(key[16..<20]) + [UInt8(imf16 >> 8), UInt8(imf16 & 0xFF)],
      key: Array(key[0..<16]), accessCode: accessCode, fixedSize: UInt8(tokenID.count),
      extFlags: extFlags, ticketFlags: ticket, configFlags: cfg)
  }

  /// The settings a configuration holds, or nil if it is not an OATH-HOTP slot.
  public init?(_ config: SlotConfiguration) {
    guard config.mode == .oathHOTP else { return nil }
    let size = min(Int(config.fixedSize), 16)
    self.init(
      key: config.key + config.uid[0..<4],
      digits: config.configFlags.contains(.oathHOTP8) ? 8 : 6,
      initialMovingFactor: (UInt32(config.uid[4]) << 8 | UInt32(config.uid[5])) << 4,
      tokenID: Array(config.fixed[0..<size]),
      tokenIDEncoding: TokenIDEncoding(flags: config.configFlags),
      appendCR: config.ticketFlags.contains(.appendCR), accessCode: config.accessCode,
      extFlags: config.extFlags, extraTicketFlags: config.ticketFlags.subtracting([.oathHOTP, .appendCR]))
  }
}

extension HOTPSlotSettings {
  /// The standard token identifier: OMP "ub" (0xE1), token type "he" (0x63) and the serial as
  /// eight BCD digits, typed "ubhe" + serial in the default encoding.
  public static func standardTokenID(serial: UInt32) -> [UInt8] {
    let plain = String(serial % 100_000_000)
    let digits = Array(String(repeating: "0", count: 8 - plain.count) + plain)
    var out: [UInt8] = [0xE1, 0x63]
    for pair in stride(from: 0, to: 8, by: 2) {
      let high = UInt8(digits[pair].wholeNumberValue!)
      let low = UInt8(digits[pair + 1].wholeNumberValue!)
      out.append(high << 4 | low)
    }
    return out
  }
}
