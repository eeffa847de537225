import CQREncode
import Foundation

/// A QR code made by libqrencode (the only module that calls it), rendered for a terminal, as SVG
/// and as PNG: enrolment shows the otpauth URI this way for phone apps to scan.
public struct QRCode: Sendable, Equatable {
  /// Modules per side.
  public let size: Int
  /// Row by row, true for dark.
  public let modules: [Bool]

  public enum Failure: Error, CustomStringConvertible {
    case encoding(String)
    public var description: String {
      switch self {
      case .encoding(let why): return "cannot make a QR code: \(why)"
      }
    }
  }

  /// Encodes UTF-8 text (byte mode) with error correction level M.
  public init(text: String) throws(Failure) {
    guard !text.isEmpty, text.utf8.count <= 2000 else { throw .encoding("the text must be 1 to 2000 bytes") }
    guard let code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M) else {
      throw .encoding(String(cString: strerror(errno)))
    }
    defer { QRcode_free(code) }
    let width = Int(code.pointee.width)
    size = width
    modules = (0..<(width * width)).map { code.pointee.data[$0] & 1 == 1 }
  }

  public func isDark(_ x: Int, _ y: Int) -> Bool {
    x >= 0 && y >= 0 && x < size && y < size && modules[y * size + x]
  }

  /// Two module rows per text line with half blocks, black on white whatever the terminal's
  /// colours, with the quiet zone scanners need.
  public func terminal(quietZone: Int = 2) -> String {
    let range = -quietZone..<(size + quietZone)
    var out = ""
    for y in stride(from: range.lowerBound, to: range.upperBound, by: 2) {
      out += "\u{1B}[30;47m"
      for x in range {
        switch (isDark(x, y), isDark(x, y + 1)) {
        case (true, true): out += "█"
        case (true, false): out += "▀"
        case (false, true): out += "▄"
        case (false, false): out += " "
        }
      }
      out += "\u{1B}[0m\n"
    }
    return out
  }

  /// An SVG document, one path of unit squares, with a quiet zone of four modules.
  public func svg(moduleSize: Int = 8) -> String {
    let full = size + 8
    var path = ""
    for y in 0..<size {
      for x in 0..<size where isDark(x, y) { path += "M\(x + 4) \(y + 4)h1v1h-1z" }
    }
    return """
      <?xml version="1.0" encoding="UTF-8"?>
      <svg xmlns="http://www.w3.org/2000/svg" width="\(full * moduleSize)" height="\(full * moduleSize)" viewBox="0 0 \(full) \(full)" shape-rendering="crispEdges">
      <rect width="\(full)" height="\(full)" fill="#fff"/>
      <path fill="#000" d="\(path)"/>
      </svg>

      """
  }

  /// A grayscale PNG, `scale` pixels per module, with a quiet zone of four modules.
  public func png(scale: Int = 8) -> [UInt8] {
    let side = (size + 8) * scale
    var raw: [UInt8] = []
    raw.reserveCapacity(side * (side + 1))
    for py in 0..<side {
      raw.append(0)  // filter: none
      for px in 0..<side { raw.append(isDark(px / scale - 4, py / scale - 4) ? 0 : 255) }
    }
    return PNG.grayscale(width: side, height: side, pixels: raw)
  }
}

/// Just enough PNG: one grayscale image, its rows in zlib "stored" blocks (no compression needed
/// for a few kilobytes of QR code), CRC-32 and Adler-32 as the format requires.
enum PNG {
  static func grayscale(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
    header += [8, 0, 0, 0, 0]  // 8-bit, grayscale, deflate, adaptive filtering, no interlace
    out += chunk("IHDR", header)
    out += chunk("IDAT", zlibStored(pixels))
    out += chunk("IEND", [])
    return out
  }

  static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
  }

  static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
  }

  static func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
      let length = min(65535, data.count - offset)
      let last: UInt8 = offset + length == data.count ? 1 : 0
      out += [
        last, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF),
      ]
      out += data[offset..<(offset + length)]
      offset += length
    } while offset < data.count
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in data {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    return out + bigEndian(b << 16 | a)
  }

  static let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }
}
