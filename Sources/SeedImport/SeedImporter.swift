import Foundation
import Verifier

/// Imports a vendor's seed file into the verifier: every key sealed under the master key and stored
/// unassigned, all in one transaction, so a file is imported whole or not at all.
public struct SeedImporter: Sendable {
  public let store: any VerifierStore
  public let keys: MasterKeyRing
  public let clock: any VerifierClock

  public init(store: any VerifierStore, keys: MasterKeyRing, clock: any VerifierClock = SystemClock()) {
    self.store = store
    self.keys = keys
    self.clock = clock
  }

  /// What an import did.
  public struct Report: Sendable, Equatable {
    public var imported: [String]
    public var skipped: [String]
  }

  /// Reads and stores a PSKC file. An existing serial is a conflict unless `replace` is set.
  public func importPSKC(
    _ data: Data, reader: PSKCReader, replace: Bool = false, source: String? = nil,
    progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Report {
    let (entries, skipped) = try reader.read(data, progress: progress)
    let factors = try entries.map { entry in
      NewHOTPFactor(
        userID: nil, serial: entry.serial, digits: entry.digits, algorithm: entry.algorithm,
        sealedSecret: try keys.seal(
          entry.secret.bytes, context: HOTPVerifier.sealingContext(serial: entry.serial)),
        counter: entry.counter, active: false)
    }
    let audit = AuditEntry(
      at: clock.nowMilliseconds(), user: nil, factor: nil, action: "import", result: "done",
      reason: "\(factors.count) tokens\(replace ? ", replacing" : "")", source: source)
    try store.importHOTPFactors(factors, replace: replace, audit: audit)
    return Report(imported: factors.map(\.serial), skipped: skipped)
  }
}
