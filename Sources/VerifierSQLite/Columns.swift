import GRDB
import GRDBSQLite
import Verifier

/// The current row of a statement stepped through SQLite's C API, read by column index.
///
/// GRDB's `Row` copies every value of every row and maps the column names of each statement it
/// reads from; on the verification path that was two thirds of the read's instructions. The
/// tables are STRICT, so a column holds its declared type or NULL, and a NULL where none may be
/// is reported as a corrupt store rather than read as zero. Valid only inside the call it is
/// passed to.
struct Columns {
  private let handle: OpaquePointer

  fileprivate init(_ handle: OpaquePointer) { self.handle = handle }

  func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

  func int64(_ column: Int32) throws -> Int64 {
    guard !isNull(column) else { throw StoreError.corrupt("column \(column) is NULL") }
    return sqlite3_column_int64(handle, column)
  }

  func optionalInt64(_ column: Int32) -> Int64? {
    isNull(column) ? nil : sqlite3_column_int64(handle, column)
  }

  func int(_ column: Int32) throws -> Int { Int(try int64(column)) }

  func bool(_ column: Int32) throws -> Bool { try int64(column) != 0 }

  func text(_ column: Int32) throws -> String {
    guard let bytes = sqlite3_column_text(handle, column) else {
      throw StoreError.corrupt("column \(column) is NULL")
    }
    let count = Int(sqlite3_column_bytes(handle, column))
    return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
  }

  func bytes(_ column: Int32) throws -> [UInt8] {
    guard !isNull(column) else { throw StoreError.corrupt("column \(column) is NULL") }
    let count = Int(sqlite3_column_bytes(handle, column))
    guard count > 0, let start = sqlite3_column_blob(handle, column) else { return [] }
    return Array(UnsafeRawBufferPointer(start: start, count: count))
  }
}

extension Statement {
  /// Binds `arguments` (checked against the statement's parameters), then calls `body` with each
  /// row in turn. The statement is reset afterwards, whatever happens.
  func forEachRow(_ arguments: StatementArguments, _ body: (Columns) throws -> Void) throws {
    try setArguments(arguments)
    let handle = sqliteStatement
    defer { sqlite3_reset(handle) }
    while true {
      switch sqlite3_step(handle) {
      case SQLITE_ROW: try body(Columns(handle))
      case SQLITE_DONE: return
      case let code:
        throw DatabaseError(
          resultCode: ResultCode(rawValue: code),
          message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))),
          sql: sql)
      }
    }
  }
}
