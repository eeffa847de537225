import Foundation
import HIDAPITransport
import Testing

@Suite struct HIDAPIBackendTests {
  @Test func enumerationWithoutTokensIsEmpty() throws {
    let hidraw =
      (try? FileManager.default.contentsOfDirectory(atPath: "/dev"))?.filter { $0.hasPrefix("hidraw") } ?? []
    let found = try HIDAPIBackend().enumerate()
    #expect(found.allSatisfy { $0.isOTPInterface && $0.kind == .hidraw })
    if hidraw.isEmpty { #expect(found.isEmpty) }
    #expect(!HIDAPIBackend.libraryVersion.isEmpty)
  }

  @Test func acceptsYubicoOTPProductsAndConfiguredOnes() {
    let backend = HIDAPIBackend(extraProducts: [(vendor: 0x20A0, product: 0x4287)])
    #expect(backend.accepts(vendor: 0x1050, product: 0x0407))
    #expect(!backend.accepts(vendor: 0x1050, product: 0x0402))  // FIDO only: no OTP interface
    #expect(backend.accepts(vendor: 0x20A0, product: 0x4287))
  }
}
