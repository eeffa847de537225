import Crypto
import Foundation

/// A RADIUS packet (RFC 2865): code, identifier, the 16-byte authenticator and attributes, as
/// they travel in one UDP datagram.
public struct RADIUSPacket: Sendable, Equatable {
  public enum Code: UInt8, Sendable {
    case accessRequest = 1
    case accessAccept = 2
    case accessReject = 3
    case accessChallenge = 11
  }

  /// Attribute types this server reads or writes.
  public enum AttributeType: UInt8, Sendable {
    case userName = 1
    case userPassword = 2
    case replyMessage = 18
    case state = 24
    case nasIdentifier = 32
    case messageAuthenticator = 80
  }

  public struct Attribute: Sendable, Equatable {
    public var type: UInt8
    public var value: [UInt8]
    public init(_ type: UInt8, _ value: [UInt8]) {
      self.type = type
      self.value = value
    }
    public init(_ type: AttributeType, _ value: [UInt8]) { self.init(type.rawValue, value) }
  }

  public var code: UInt8
  public var identifier: UInt8
  public var authenticator: [UInt8]
  public var attributes: [Attribute]

  public init(code: UInt8, identifier: UInt8, authenticator: [UInt8], attributes: [Attribute]) {
    self.code = code
    self.identifier = identifier
    self.authenticator = authenticator
    self.attributes = attributes
  }

  /// The first value of an attribute type.
  public func value(_ type: AttributeType) -> [UInt8]? {
    attributes.first { $0.type == type.rawValue }?.value
  }

  /// Smallest and largest packets RFC 2865 allows.
  public static let minimumLength = 20
  public static let maximumLength = 4096

  /// Reads one datagram. Every length is checked against the datagram's; anything the RFC does not
  /// allow is an error, never a partial packet. Bytes after the packet's own length are padding
  /// and ignored, as the RFC says.
  public init(parsing bytes: [UInt8]) throws(RADIUSError) {
    guard bytes.count >= Self.minimumLength else { throw .malformed("shorter than 20 bytes") }
    let length = Int(bytes[2]) << 8 | Int(bytes[3])
    guard length >= Self.minimumLength, length <= Self.maximumLength, length <= bytes.count else {
      throw .malformed("length \(length) does not fit the datagram of \(bytes.count) bytes")
    }
    code = bytes[0]
    identifier = bytes[1]
    authenticator = Array(bytes[4..<20])
    var attributes: [Attribute] = []
    var index = 20
    while index < length {
      guard index + 2 <= length else { throw .malformed("an attribute header runs past the packet") }
      let size = Int(bytes[index + 1])
      guard size >= 2, index + size <= length else { throw .malformed("an attribute's length is wrong") }
      attributes.append(Attribute(bytes[index], Array(bytes[(index + 2)..<(index + size)])))
      index += size
    }
    self.attributes = attributes
  }

  /// The packet's bytes; an attribute over 253 bytes or a packet over 4,096 is an error.
  public func encoded() throws(RADIUSError) -> [UInt8] {
    var body: [UInt8] = []
    for attribute in attributes {
      guard attribute.value.count <= 253 else { throw .malformed("an attribute over 253 bytes") }
      body += [attribute.type, UInt8(attribute.value.count + 2)] + attribute.value
    }
    let length = 20 + body.count
    guard length <= Self.maximumLength, authenticator.count == 16 else {
      throw .malformed("a packet over 4096 bytes")
    }
    return [code, identifier, UInt8(length >> 8), UInt8(length & 0xFF)] + authenticator + body
  }
}

/// Why a datagram was not taken.
public enum RADIUSError: Error, Equatable, Sendable, CustomStringConvertible {
  case malformed(String)
  /// The Message-Authenticator is missing where required, or does not match the shared secret.
  case unauthenticated(String)

  public var description: String {
    switch self {
    case .malformed(let why): "malformed packet: \(why)"
    case .unauthenticated(let why): "not authenticated: \(why)"
    }
  }
}
