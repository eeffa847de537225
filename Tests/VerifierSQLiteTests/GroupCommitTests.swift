import Foundation
import GRDB
import StoreFixtures
import Testing
@testable import VerifierSQLite

/// A failed write changes nothing, and takes no other write of its commit with it.
@Suite struct GroupCommitTests {
  struct Refused: Error, Equatable { let name: String }

  /// A pool with a table `t(name)` and a child table whose foreign key is checked only at commit.
  func pool() throws -> DatabasePool {
    var configuration = Configuration()
    configuration.foreignKeysEnabled = true
    let pool = try DatabasePool(path: temporaryDirectory() + "/g.sqlite", configuration: configuration)
    try pool.write { db in
      try db.execute(
        sql: """
          CREATE TABLE t (name TEXT PRIMARY KEY);
          CREATE TABLE child (parent TEXT REFERENCES t(name) DEFERRABLE INITIALLY DEFERRED);
          """)
    }
    return pool
  }

  func names(_ pool: DatabasePool) throws -> [String] {
    try pool.read { try String.fetchAll($0, sql: "SELECT name FROM t ORDER BY name") }
  }

  func insert(_ name: String, _ db: Database) throws {
    try db.execute(sql: "INSERT INTO t (name) VALUES (?)", arguments: [name])
  }

  @Test func aLoneWriteThatFailsLeavesNothing() throws {
    let pool = try pool()
    let commit = GroupCommit(pool: pool)
    #expect(throws: Refused(name: "a")) {
      try commit.write { db in
        try insert("a", db)
        throw Refused(name: "a")
      }
    }
    // The connection is out of the transaction: the next write commits on its own.
    try commit.write { db in try insert("b", db) }
    #expect(try names(pool) == ["b"])
  }

  /// Writes queued behind a running commit go in one batch; the one that fails is undone alone.
  @Test func aFailingWriteInABatchUndoesOnlyItself() throws {
    let pool = try pool()
    let outcomes = Outcomes()
    let commit = GroupCommit(pool: pool) { outcomes.record("commit of \($0)") }
    let holding = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let finished = DispatchGroup()
    func writer(_ name: String, _ body: @escaping @Sendable (Database) throws -> Void) {
      finished.enter()
      Thread {
        do {
          try commit.write(body)
          outcomes.record("\(name) ok")
        } catch { outcomes.record("\(name) \(error)") }
        finished.leave()
      }.start()
    }
    writer("first") { db in
      try insert("first", db)
      holding.signal()
      release.wait()
    }
    holding.wait()
    // The first commit is running, so these three wait for it and then commit together.
    for name in ["x", "y", "z"] {
      writer(name) { db in
        try insert(name, db)
        if name == "y" { throw Refused(name: name) }
      }
    }
    while commit.pendingCount < 3 { sched_yield() }
    release.signal()
    finished.wait()
    #expect(try names(pool) == ["first", "x", "z"])
    #expect(
      Set(outcomes.values)
        == ["commit of 1", "commit of 3", "first ok", "x ok", "y Refused(name: \"y\")", "z ok"])
  }

  /// A commit that SQLite refuses (here a foreign key checked at commit) is rolled back whole: the
  /// write gets SQLite's error, nothing of it stays, and the connection is left out of any
  /// transaction.
  @Test func aRefusedCommitLeavesNothingOfTheBatch() throws {
    let pool = try pool()
    let commit = GroupCommit(pool: pool)
    #expect(throws: DatabaseError.self) {
      try commit.write { db in
        try insert("kept?", db)
        try db.execute(sql: "INSERT INTO child (parent) VALUES ('nobody')")
      }
    }
    #expect(try names(pool) == [])
    try commit.write { db in try insert("after", db) }
    #expect(try names(pool) == ["after"])
  }
}

/// What the writers and the commits report, collected across threads.
final class Outcomes: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  func record(_ value: String) { lock.withLock { stored.append(value) } }
  var values: [String] { lock.withLock { stored } }
}
