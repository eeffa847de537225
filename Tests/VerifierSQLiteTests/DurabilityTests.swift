import Foundation
import GRDB
import StoreFixtures
import Testing
@testable import VerifierSQLite

/// An acceptance is on disk before its answer leaves: the writer flushes the log at every commit.
@Suite struct DurabilityTests {
  @Test func theWriterFlushesEveryCommit() throws {
    let store = try SQLiteStore(path: temporaryDirectory() + "/v.sqlite")
    let writer = try store.pool.writeWithoutTransaction { db in
      (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
    }
    #expect(writer.0 == "wal")
    // 2 is FULL; GRDB's pool leaves its writer at NORMAL (1), flushed only at checkpoints.
    #expect(writer.1 == 2)
  }
}
