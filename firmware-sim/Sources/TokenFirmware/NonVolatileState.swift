import OTPWire

/// One programmed slot as the token keeps it in non-volatile memory.
public struct StoredSlot: Sendable, Hashable, Codable {
  /// The configuration as written (the access code protecting the slot is inside it).
  public var configuration: SlotConfiguration
  /// The HOTP moving factor the next press uses.
  public var counter: UInt64

  public init(configuration: SlotConfiguration, counter: UInt64) {
    self.configuration = configuration
    self.counter = counter
  }

  enum CodingKeys: String, CodingKey { case configuration, counter }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let hex = try container.decode(String.self, forKey: .configuration)
    guard let bytes = [UInt8](hex: hex) else {
      throw DecodingError.dataCorruptedError(
        forKey: .configuration, in: container, debugDescription: "configuration is not hex")
    }
    do { configuration = try SlotConfiguration(bytes: bytes) } catch {
      throw DecodingError.dataCorruptedError(
        forKey: .configuration, in: container, debugDescription: error.description)
    }
    counter = try container.decode(UInt64.self, forKey: .counter)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(configuration.bytes.hexString(), forKey: .configuration)
    try container.encode(counter, forKey: .counter)
  }
}

/// Everything the token must keep across power cycles: serial, programming sequence, slots and
/// their counters. The platform writes it whole and durably.
public struct NonVolatileState: Sendable, Hashable, Codable {
  /// Format version of the stored state.
  public var format: Int = 1
  public var serial: UInt32
  public var programmingSequence: UInt8
  public var slot1: StoredSlot?
  public var slot2: StoredSlot?

  public init(
    serial: UInt32, programmingSequence: UInt8 = 0, slot1: StoredSlot? = nil, slot2: StoredSlot? = nil
  ) {
    self.serial = serial
    self.programmingSequence = programmingSequence
    self.slot1 = slot1
    self.slot2 = slot2
  }

  public subscript(slot: Slot) -> StoredSlot? {
    get { slot == .one ? slot1 : slot2 }
    set { if slot == .one { slot1 = newValue } else { slot2 = newValue } }
  }

  /// A fresh, empty token. Serials are kept to 8 decimal digits, as tokens print them.
  public static func fresh(serial: UInt32) -> NonVolatileState {
    NonVolatileState(serial: serial % 100_000_000)
  }
}

extension SlotConfiguration: Codable {
  public init(from decoder: any Decoder) throws {
    let hex = try decoder.singleValueContainer().decode(String.self)
    guard let bytes = [UInt8](hex: hex) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not hex"))
    }
    do { try self.init(bytes: bytes) } catch {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: error.description))
    }
  }
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(bytes.hexString())
  }
}
