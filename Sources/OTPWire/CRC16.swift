/// The CRC-16 of the OTP HID protocol: reflected polynomial 0x8408, initial value 0xFFFF, no final
/// XOR (ISO/IEC 13239 without the inversion). Frames carry it plain; configurations and device
/// responses carry its one's complement, so a CRC over the whole block gives ``residual``.
public enum CRC16 {
  /// The CRC over a block that ends in the little-endian one's complement of its own CRC.
  public static let residual: UInt16 = 0xF0B8

  /// The CRC-16 of `bytes`.
  @inlinable
  public static func checksum<C: Collection>(_ bytes: C) -> UInt16 where C.Element == UInt8 {
    var crc: UInt16 = 0xFFFF
    for byte in bytes {
      crc ^= UInt16(byte)
      for _ in 0..<8 {
        let carry = crc & 1
        crc >>= 1
        if carry != 0 { crc ^= 0x8408 }
      }
    }
    return crc
  }

  /// `bytes` followed by the little-endian one's complement of their CRC.
  public static func appendingComplement(to bytes: [UInt8]) -> [UInt8] {
    let crc = ~checksum(bytes)
    return bytes + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
  }

  /// Whether a block ending in a complemented CRC checks out.
  public static func hasValidComplement<C: Collection>(_ block: C) -> Bool where C.Element == UInt8 {
    block.count >= 2 && checksum(block) == residual
  }
}
