import Foundation

/// An IPv4 or IPv6 network, `10.0.0.0/8` or `::1` (a single address), that callers are allowed
/// from: the `/validate/check` allow-list and RADIUS clients.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
  let bytes: [UInt8]
  let prefix: Int

  /// nil for anything but an address, optionally with a prefix length that fits it.
  public init?(_ text: String) {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    guard let address = Self.parse(String(parts[0])) else { return nil }
    let bits = address.count * 8
    var prefix = bits
    if parts.count == 2 {
      guard let given = Int(parts[1]), (0...bits).contains(given), parts[1].allSatisfy(\.isNumber) else {
        return nil
      }
      prefix = given
    }
    bytes = address
    self.prefix = prefix
  }

  /// Whether `address` (as the socket reports it) lies in this network. An IPv4 address mapped
  /// into IPv6 (`::ffff:10.1.2.3`) counts as the IPv4 address.
  public func contains(_ address: String) -> Bool {
    guard var other = Self.parse(address) else { return false }
    if other.count == 16, bytes.count == 4, other[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF][...] {
      other = Array(other[12...])
    }
    guard other.count == bytes.count else { return false }
    for bit in 0..<prefix where (other[bit / 8] ^ bytes[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 {
      return false
    }
    return true
  }

  public var description: String {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    let family = bytes.count == 4 ? AF_INET : AF_INET6
    _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
    let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return prefix == bytes.count * 8 ? address : "\(address)/\(prefix)"
  }

  static func parse(_ text: String) -> [UInt8]? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
    return nil
  }
}
