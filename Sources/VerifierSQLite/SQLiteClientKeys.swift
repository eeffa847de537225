import Foundation
import GRDB
import Verifier

extension SQLiteStore: ClientKeyStore {
  public func insertClientKey(name: String, scope: ClientScope, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try write { db in
      if try Int64.fetchOne(db, sql: "SELECT id FROM client_keys WHERE name = ?", arguments: [name]) != nil {
        throw StoreError.conflict("API key \(name)")
      }
      try db.execute(
        sql: "INSERT INTO client_keys (name, scope, hash, created_at) VALUES (?, ?, ?, ?)",
        arguments: [name, scope.rawValue, Data(hash), at])
      try Self.insert(audit, db)
    }
  }

  public func clientKey(hash: [UInt8]) throws(StoreError) -> ClientKeyRecord? {
    try read { db in
      try Row.fetchOne(
        db.cachedStatement(sql: "SELECT name, scope, created_at, revoked_at FROM client_keys WHERE hash = ?"),
        arguments: [Data(hash)]
      ).map(Self.clientKey)
    }
  }

  public func revokeClientKey(name: String, at: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try write { db in
      try db.execute(
        sql: "UPDATE client_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        arguments: [at, name])
      guard db.changesCount == 1 else { return false }
      try Self.insert(audit, db)
      return true
    }
  }

  public func clientKeys() throws(StoreError) -> [ClientKeyRecord] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT name, scope, created_at, revoked_at FROM client_keys ORDER BY name")
        .map(Self.clientKey)
    }
  }

  static func clientKey(_ row: Row) throws -> ClientKeyRecord {
    let scopeName: String = row[1]
    guard let scope = ClientScope(rawValue: scopeName) else {
      throw StoreError.corrupt("unknown API key scope \(scopeName)")
    }
    return ClientKeyRecord(name: row[0], scope: scope, createdAt: row[2], revokedAt: row[3])
  }
}
