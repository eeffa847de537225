import GRDB
import GRDBSQLite
import Verifier

// The verification path's statements, run through SQLite's C API. GRDB compiles and caches them;
// its per-execution layers (a `Row` copied for every row, each statement's column names mapped,
// arguments boxed as existentials) were about a third of a verification's store instructions.

/// The current row of a statement stepped through SQLite's C API, read by column index. The
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

/// A value bound to a statement's parameter.
enum Bound {
  case integer(Int64)
  case text(String)
  case null

  init(_ value: Int64?) { self = value.map(Bound.integer) ?? .null }
  init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
  init(_ value: Bool) { self = .integer(value ? 1 : 0) }
  init(_ value: String?) { self = value.map(Bound.text) ?? .null }
}

/// SQLite copies a bound text before the bind call returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Statement {
  /// Runs a statement that returns no rows, with `values` bound to its parameters in order; the
  /// number of rows it changed.
  @discardableResult
  func run(_ values: [Bound]) throws -> Int {
    let handle = try bind(values)
    defer {
      sqlite3_reset(handle)
      sqlite3_clear_bindings(handle)
    }
    switch sqlite3_step(handle) {
    case SQLITE_DONE: break
    case SQLITE_ROW:
      throw DatabaseError(
        resultCode: .SQLITE_MISUSE, message: "run is for statements that return no rows; use forEachRow",
        sql: sql)
    case let code: throw error(code, handle)
    }
    return Int(sqlite3_changes(sqlite3_db_handle(handle)))
  }

  /// SQLite's error for `code`, with its message and the statement's text (never its values).
  private func error(_ code: Int32, _ handle: OpaquePointer) -> DatabaseError {
    DatabaseError(
      resultCode: ResultCode(rawValue: code),
      message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))),
      sql: sql)
  }

  /// Binds `values` to the statement's parameters in order, after checking that there is one
  /// for each; the statement's handle, reset and ready to step.
  private func bind(_ values: [Bound]) throws -> OpaquePointer {
    let handle = sqliteStatement
    guard sqlite3_bind_parameter_count(handle) == values.count else {
      throw DatabaseError(
        resultCode: .SQLITE_MISUSE,
        message: "\(values.count) values for \(sqlite3_bind_parameter_count(handle)) parameters",
        sql: sql)
    }
    sqlite3_reset(handle)
    for (index, value) in zip(Int32(1)..., values) {
      let code: Int32
      switch value {
      case .integer(let number): code = sqlite3_bind_int64(handle, index, number)
      case .text(let text):
        code = text.utf8CString.withUnsafeBufferPointer {
          sqlite3_bind_text(handle, index, $0.baseAddress, Int32($0.count - 1), transient)
        }
      case .null: code = sqlite3_bind_null(handle, index)
      }
      guard code == SQLITE_OK else {
        sqlite3_clear_bindings(handle)
        throw error(code, handle)
      }
    }
    return handle
  }

  /// Binds `values` to the statement's parameters in order, then calls `body` with each row in
  /// turn. The statement is reset and its bindings cleared afterwards, whatever happens.
  func forEachRow(_ values: [Bound], _ body: (Columns) throws -> Void) throws {
    let handle = try bind(values)
    defer {
      sqlite3_reset(handle)
      sqlite3_clear_bindings(handle)
    }
    while true {
      switch sqlite3_step(handle) {
      case SQLITE_ROW: try body(Columns(handle))
      case SQLITE_DONE: return
      case let code: throw error(code, handle)
      }
    }
  }
}
