import Foundation
import Testing

@testable import QRCode

@Suite struct QRCodeTests {
  /// What zbarimg (zbar-tools) reads from an image file.
  func scan(_ path: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["zbarimg", "--quiet", "--raw", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      .trimmingCharacters(in: .newlines)
  }

  @Test func aPNGDecodesToExactlyTheURI() throws {
    let uri =
      "otpauth://totp/Example%20Co:alice@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
    let code = try QRCode(text: uri)
    let path = NSTemporaryDirectory() + "qr-\(UUID().uuidString).png"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data(code.png()).write(to: URL(fileURLWithPath: path))
    #expect(try scan(path) == uri)
  }

  @Test func pngStructureChecksOut() throws {
    let png = PNG.grayscale(width: 2, height: 1, pixels: [0, 0, 255])
    #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    #expect(PNG.crc32(Array("IEND".utf8)) == 0xAE42_6082)
  }

  @Test func terminalAndSVGShowTheSameModules() throws {
    let code = try QRCode(text: "hello")
    #expect(code.size == 21)  // version 1
    #expect(code.isDark(0, 0) && code.isDark(6, 6) && !code.isDark(7, 7))  // finder pattern
    let lines = code.terminal().split(separator: "\n")
    #expect(lines.count == (21 + 4 + 1) / 2)
    let squares = code.svg().components(separatedBy: "h1v1h-1z").count - 1
    #expect(squares == code.modules.filter { $0 }.count)
    #expect(throws: QRCode.Failure.self) { try QRCode(text: "") }
  }
}
