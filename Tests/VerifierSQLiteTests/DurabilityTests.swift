import Foundation
import GRDB
import StoreFixtures
import Testing
import Verifier
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

/// A new database gets the store's page size; an existing one keeps the size it was made with.
@Suite struct PageSizeTests {
  @Test func aNewDatabaseHasTheStoresPageSize() throws {
    let store = try SQLiteStore(path: temporaryDirectory() + "/v.sqlite")
    let size = try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA page_size") }
    #expect(size == SQLiteStore.pageSize)
    #expect(SQLiteStore.pageSize != 4096)
  }

  @Test func anExistingDatabaseKeepsItsPageSizeAndWorks() throws {
    let path = temporaryDirectory() + "/v.sqlite"
    try DatabaseQueue(path: path).write { db in
      try db.execute(sql: "PRAGMA page_size = 4096")
      try db.execute(sql: "CREATE TABLE earlier (id INTEGER PRIMARY KEY)")
    }
    let store = try SQLiteStore(path: path)
    _ = try store.createUser(
      name: "alice",
      audit: AuditEntry(
        at: 0, user: "alice", factor: nil, action: "create", result: "done", reason: "created"))
    let size = try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA page_size") }
    #expect(size == 4096)
    #expect(try store.user(named: "alice") != nil)
  }
}
