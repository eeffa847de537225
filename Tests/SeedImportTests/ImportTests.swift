import Foundation
import OneTimePassword
import SeedImport
import StoreFixtures
import Testing
import Verifier

@Suite struct PSKCImportTests {
  func resource(_ name: String) throws -> Data {
    let url = try #require(
      Bundle.module.url(forResource: name, withExtension: "pskcxml", subdirectory: "PSKC"))
    return try Data(contentsOf: url)
  }

  let tokens = (1...3).map {
    PSKCWriter.Token(
      serial: "SN\($0)", secret: (0..<20).map { UInt8($0 * 7 + 1) }, counter: UInt64($0 * 10), digits: 6)
  }

  @Test func rfc6030PlainExamples() throws {
    let minimal = try PSKCReader().read(resource("rfc6030-figure2")).keys
    #expect(minimal.count == 1)
    #expect(minimal[0].serial == "12345678" && minimal[0].secret.bytes == rfcKey && minimal[0].digits == 6)
    let full = try PSKCReader().read(resource("rfc6030-figure3")).keys
    #expect(full[0].serial == "987654321" && full[0].digits == 8 && full[0].counter == 0)
    #expect(full[0].issuer == "Issuer" && full[0].secret.bytes == rfcKey)
  }

  @Test func preSharedKeyFile() throws {
    let psk = Array(repeating: UInt8(0x42), count: 16)
    let data = try PSKCWriter(protection: .preShared(key: psk)).document(tokens)
    let keys = try PSKCReader(decryption: .preSharedKey(psk)).read(data).keys
    #expect(keys.map(\.serial) == ["SN1", "SN2", "SN3"])
    #expect(keys[1].secret.bytes == tokens[1].secret && keys[1].counter == 20)
    #expect(throws: PSKCError.self) { try PSKCReader().read(data) }  // no key given
    #expect(throws: PSKCError.self) {
      try PSKCReader(decryption: .preSharedKey(Array(repeating: 1, count: 16))).read(data)
    }
  }

  @Test func pbkdf2File() throws {
    let writer = PSKCWriter(
      protection: .pbkdf2(password: "qwerty", salt: Array("saltsalt".utf8), iterations: 1000))
    let data = try writer.document(tokens)
    let keys = try PSKCReader(decryption: .password("qwerty")).read(data).keys
    #expect(keys.count == 3 && keys[2].secret.bytes == tokens[2].secret)
    #expect(throws: PSKCError.self) { try PSKCReader(decryption: .password("wrong")).read(data) }
  }

  @Test func aBadMACRefusesTheWholeFile() throws {
    let psk = Array(repeating: UInt8(7), count: 16)
    var writer = PSKCWriter(protection: .preShared(key: psk))
    writer.corruptMACOf = "SN2"
    let data = try writer.document(tokens)
    #expect(throws: PSKCError.badMAC(key: "SN2")) {
      try PSKCReader(decryption: .preSharedKey(psk)).read(data)
    }
    let lenient = try PSKCReader(decryption: .preSharedKey(psk), skipInvalid: true).read(data)
    #expect(lenient.keys.map(\.serial) == ["SN1", "SN3"] && lenient.skipped.count == 1)
  }

  @Test func malformedFilesNameTheProblem() throws {
    let full = try resource("rfc6030-figure3")
    let truncated = full.prefix(full.count / 2)
    let error = #expect(throws: PSKCError.self) { try PSKCReader().read(truncated) }
    #expect(error?.description.contains("line") == true, "\(String(describing: error))")
    let cases: [(String, String)] = [
      ("<KeyContainer Version=\"2.0\"/>", "version"),
      ("<Other/>", "KeyContainer"),
      ("<KeyContainer Version=\"1.0\"></KeyContainer>", "KeyPackage"),
      (
        String(decoding: full, as: UTF8.self).replacingOccurrences(
          of: "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", with: "!!!"), "base64"
      ),
      (
        String(decoding: full, as: UTF8.self).replacingOccurrences(of: "Length=\"8\"", with: "Length=\"12\""),
        "Length"
      ),
      (
        String(decoding: full, as: UTF8.self).replacingOccurrences(of: "pskc:hotp", with: "pskc:totp"),
        "only HOTP"
      ),
    ]
    for (text, expected) in cases {
      let error = #expect(throws: PSKCError.self) { try PSKCReader().read(Data(text.utf8)) }
      #expect(error?.description.contains(expected) == true, "\(expected): \(String(describing: error))")
    }
  }

  @Test(arguments: StoreKind.allCases)
  func importedTokensWaitUntilAUserProvesOne(kind: StoreKind) async throws {
    let store = try kind.make()
    let keys = MasterKeyRing.generate()
    let importer = SeedImporter(store: store, keys: keys)
    let psk = Array(repeating: UInt8(0x42), count: 16)
    let data = try PSKCWriter(protection: .preShared(key: psk)).document(tokens)
    var seen: [Int] = []
    let report = try importer.importPSKC(data, reader: PSKCReader(decryption: .preSharedKey(psk))) {
      done, _ in seen.append(done)
    }
    #expect(report.imported == ["SN1", "SN2", "SN3"] && seen == [1, 2, 3])
    // A serial that exists is a conflict, and nothing of that file is imported.
    let second = try PSKCWriter(protection: .preShared(key: psk)).document([
      .init(serial: "SN9", secret: Array(repeating: 9, count: 20), counter: 0, digits: 6), tokens[0],
    ])
    #expect(throws: StoreError.self) {
      try importer.importPSKC(second, reader: PSKCReader(decryption: .preSharedKey(psk)))
    }
    #expect(try store.hotpFactor(serial: "SN9") == nil)
    _ = try importer.importPSKC(second, reader: PSKCReader(decryption: .preSharedKey(psk)), replace: true)
    #expect(try store.hotpFactor(serial: "SN9") != nil)

    let clock = ManualClock()
    let verifier = try HOTPVerifier(store: store, keys: keys, clock: clock)
    let accounts = Accounts(store: store, hotp: verifier)
    _ = try store.createUser(name: "dave", audit: Fixture.audit("user-add"))
    _ = try store.createUser(name: "erin", audit: Fixture.audit("user-add"))
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: tokens[1].secret))
    // Unassigned tokens decide nothing for anyone.
    #expect(
      try await accounts.verify(user: "dave", code: generator.code(counter: 20).text).reason == .noFactor)
    #expect(
      try verifier.assign(
        serial: "SN2", to: "dave", codes: (generator.code(counter: 30).text, generator.code(counter: 32).text)
      ).reason == .wrongCode)
    let assigned = try verifier.assign(
      serial: "SN2", to: "dave", codes: (generator.code(counter: 25).text, generator.code(counter: 26).text))
    #expect(assigned.isAccepted)
    #expect(throws: VerifierError.self) {
      try verifier.assign(
        serial: "SN2", to: "erin", codes: (generator.code(counter: 27).text, generator.code(counter: 28).text)
      )
    }
    #expect(try await accounts.verify(user: "dave", code: generator.code(counter: 26).text).reason == .replay)
    #expect(
      try await accounts.verify(user: "dave", code: generator.code(counter: 27).text).reason == .accepted)
  }
}

@Suite struct PSKCBoundaryTests {
  let psk = Array(repeating: UInt8(0x42), count: 16)

  func read(counter: UInt64) throws -> [PSKCKey] {
    let token = PSKCWriter.Token(
      serial: "SN", secret: Array(repeating: 7, count: 20), counter: counter, digits: 6)
    let data = try PSKCWriter(protection: .preShared(key: psk)).document([token])
    return try PSKCReader(decryption: .preSharedKey(psk)).read(data).keys
  }

  /// Counters beyond what a store holds (and a window above them) are refused with the bound.
  @Test func countersAreBoundedWhereTheyEnter() throws {
    #expect(try read(counter: HOTPState.maximumCounter).first?.counter == HOTPState.maximumCounter)
    for counter in [HOTPState.maximumCounter + 1, 1 << 63, UInt64.max] {
      #expect(throws: PSKCError.self, "\(counter)") { try read(counter: counter) }
      do { _ = try read(counter: counter) } catch {
        #expect("\(error)".contains("at most 4611686018427387904"))
      }
    }
  }

  /// Found by the fuzzer: a name that is not valid UTF-8 crashed Foundation's XML parser.
  @Test func bytesThatAreNotUTF8AreRefusedBeforeTheParser() throws {
    var bytes = Array("<?xml version=\"1.0\"?>\n<K".utf8) + [0xE9, 0xFF, 0xC0]
    bytes += Array("eyContainer Version=\"1.0\"><KeyPackage/></KeyContainer>".utf8)
    #expect(throws: PSKCError.malformed("the file is not UTF-8 text (PSKC files are read as UTF-8 XML)")) {
      try PSKCReader().read(Data(bytes))
    }
  }

  @Test func brokenXMLIsDescribedByWhereItBreaks() throws {
    let broken = Data("<KeyContainer>\n  <KeyPackage>\n  </Key>\n</KeyContainer>".utf8)
    do {
      _ = try PSKCReader().read(broken)
      Issue.record("broken XML was read")
    } catch {
      let text = "\(error)"
      #expect(text.contains("near line ") && text.contains("column"), "\(text)")
      #expect(!text.contains("NSXMLParserErrorDomain"), "\(text)")
    }
  }
}
