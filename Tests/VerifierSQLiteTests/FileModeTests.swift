import Foundation
import StoreFixtures
import Testing
import Verifier
import VerifierSQLite

/// The database and its companions are owner-only however the path reaches them, and no folder is
/// created on the way.
@Suite struct FileModeTests {
  func mode(_ path: String) throws -> Int? {
    try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
  }

  @Test func aDatabaseReachedThroughADanglingLinkIsOwnerOnly() throws {
    let folder = temporaryDirectory()
    let target = folder + "/real.sqlite"
    let link = folder + "/link.sqlite"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    let store = try SQLiteStore(path: link)
    _ = try store.createUser(name: "alice", audit: Fixture.audit("user-add"))
    #expect(try mode(target) == 0o600)
    // SQLite follows the link and keeps its log and shared memory beside the real file.
    for companion in ["-wal", "-shm"] {
      #expect(FileManager.default.fileExists(atPath: target + companion), "\(companion)")
      #expect(try mode(target + companion) == 0o600, "\(companion)")
    }
  }

  @Test func aMissingFolderIsAnErrorNotCreated() throws {
    let folder = temporaryDirectory() + "/absent/deeper"
    #expect(throws: StoreError.self) { try SQLiteStore(path: folder + "/v.sqlite") }
    #expect(!FileManager.default.fileExists(atPath: folder))
  }

  @Test func othersReadingAreReported() throws {
    let path = temporaryDirectory() + "/v.sqlite"
    _ = try SQLiteStore(path: path)
    #expect(SQLiteStore.openToOthers(path) == nil)
    chmod(path, 0o640)
    #expect(SQLiteStore.openToOthers(path) == 0o640)
  }
}
