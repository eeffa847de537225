import Foundation
import TokenDriver
import TokenTransport
import Verifier

/// Enrols many tokens for an administrator: tokens are plugged in one after another, each is
/// programmed for the next user of the list and confirmed with a press, and every outcome is written
/// to a report before the next token. An interrupted run resumes from the report: users already
/// done are skipped and a token already enrolled is never programmed again.
public struct BatchEnrollment: Sendable {
  public let registration: TokenRegistration
  public let discovery: TokenDiscovery
  public let report: EnrollmentReport

  public init(registration: TokenRegistration, discovery: TokenDiscovery, report: EnrollmentReport) {
    self.registration = registration
    self.discovery = discovery
    self.report = report
  }

  /// What happens, for the person at the desk. `position` counts the list's users from 1, those
  /// done in earlier runs included, so "3 of 10" means two are done.
  public enum Event: Sendable {
    case waitingForToken(user: String, position: Int, total: Int)
    case waitingForPress(user: String, serial: String)
    case skipped(serial: String, detail: String)
    case enrolled(user: String, serial: String, position: Int, total: Int)
    case failed(user: String, serial: String?, detail: String)
    case finished(enrolled: Int, remaining: Int)
  }

  /// Enrols `users` in order (those the report shows done are skipped), one token per arrival. A
  /// token whose slot holds a credential the verifier never saw is skipped unless `overwrite`.
  public func run(
    users: [String], events: AsyncStream<USBEvent>, overwrite: Bool = false,
    progress: @escaping @Sendable (Event) -> Void
  ) async throws {
    var done = try report.completed()
    var pending = users.filter { done.users[$0] == nil }
    let total = users.count
    guard let first = pending.first else {
      progress(.finished(enrolled: 0, remaining: 0))
      return
    }
    progress(.waitingForToken(user: first, position: total - pending.count + 1, total: total))
    let watcher = DeviceWatcher(scan: { discovery.devices().found })
    var enrolled = 0
    for await change in watcher.changes(events: events) {
      guard case .arrived(let device) = change, let user = pending.first else { continue }
      let session: TokenSession
      do { session = try discovery.open(device) } catch {
        progress(.failed(user: user, serial: nil, detail: error.description))
        continue
      }
      defer { session.device.close() }
      let serial: String
      do { serial = String(try session.serial()) } catch {
        progress(.failed(user: user, serial: nil, detail: error.description))
        continue
      }
      if let owner = done.serials[serial] {
        progress(.skipped(serial: serial, detail: "enrolled for \(owner) in this run; plug in a new token"))
        continue
      }
      do {
        try registration.verifier.checkRegistration(serial: serial, user: user, replace: false)
        if !overwrite, session.status.configState.isValid(registration.slot),
          try !registration.verifier.knows(serial: serial)
        {
          progress(
            .skipped(
              serial: serial,
              detail:
                "slot \(registration.slot) holds a credential otptoken did not write; plug in another token, or run again with --force to overwrite it"
            ))
          continue
        }
        let outcome = try registration.register(user: user, session: session, source: "enroll") { step in
          if case .waitingForPress = step { progress(.waitingForPress(user: user, serial: serial)) }
        }
        try report.append(user: user, serial: serial, status: "enrolled", detail: "")
        done.users[user] = serial
        done.serials[serial] = user
        pending.removeFirst()
        enrolled += 1
        progress(.enrolled(user: outcome.user, serial: serial, position: total - pending.count, total: total))
      } catch let error as VerifierError {
        progress(.skipped(serial: serial, detail: "\(error); plug in a new token"))
      } catch {
        try report.append(user: user, serial: serial, status: "failed", detail: "\(error)")
        progress(.failed(user: user, serial: serial, detail: "\(error)"))
      }
      if let next = pending.first {
        progress(.waitingForToken(user: next, position: total - pending.count + 1, total: total))
      } else {
        break
      }
    }
    progress(.finished(enrolled: enrolled, remaining: pending.count))
  }
}

/// The report of a batch enrolment: a CSV journal (`user,serial,status,at,detail`), one line
/// appended and synced per token, and optionally the same as a JSON document rewritten atomically
/// after every line. It is also what a resumed run reads to know what is done.
public struct EnrollmentReport: Sendable {
  public let csvPath: String
  public let jsonPath: String?

  public init(csvPath: String, jsonPath: String? = nil) {
    self.csvPath = csvPath
    self.jsonPath = jsonPath
  }

  static let header = "user,serial,status,at,detail"

  /// Users and serials already enrolled, from the journal.
  public func completed() throws -> (users: [String: String], serials: [String: String]) {
    var users: [String: String] = [:]
    var serials: [String: String] = [:]
    for row in try rows() where row["status"] == "enrolled" {
      users[row["user"]!] = row["serial"]!
      serials[row["serial"]!] = row["user"]!
    }
    return (users, serials)
  }

  /// Every line of the journal.
  public func rows() throws -> [[String: String]] {
    guard let data = FileManager.default.contents(atPath: csvPath) else { return [] }
    return Self.rows(in: String(decoding: data, as: UTF8.self))
  }

  /// The lines of a journal's text after its header; a line without five fields is skipped.
  public static func rows(in text: String) -> [[String: String]] {
    var out: [[String: String]] = []
    for line in text.split(separator: "\n").dropFirst() {
      let fields = CSV.split(String(line))
      guard fields.count == 5 else { continue }  // a line cut by a crash is ignored
      out.append([
        "user": fields[0], "serial": fields[1], "status": fields[2], "at": fields[3], "detail": fields[4],
      ])
    }
    return out
  }

  /// Appends one outcome and syncs it before returning.
  public func append(user: String, serial: String, status: String, detail: String) throws {
    let exists = FileManager.default.fileExists(atPath: csvPath)
    let fd = open(csvPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: csvPath]) }
    defer { close(fd) }
    let at = ISO8601DateFormatter().string(from: Date())
    var text = exists ? "" : Self.header + "\n"
    text += [user, serial, status, at, detail].map(CSV.quote).joined(separator: ",") + "\n"
    let bytes = Array(text.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: csvPath])
    }
    if let jsonPath { try writeJSON(to: jsonPath) }
  }

  private func writeJSON(to path: String) throws {
    let data = try JSONSerialization.data(
      withJSONObject: ["tokens": try rows()], options: [.prettyPrinted, .sortedKeys])
    let temporary = path + ".tmp"
    try data.write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
  }
}

/// The little CSV this report needs: quoting of commas, quotes and line breaks.
enum CSV {
  static func quote(_ field: String) -> String {
    guard field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return field }
    return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"").replacingOccurrences(of: "\n", with: " ")
      + "\""
  }

  static func split(_ line: String) -> [String] {
    var fields: [String] = []
    var current = ""
    var quoted = false
    var iterator = line.makeIterator()
    while let character = iterator.next() {
      switch (character, quoted) {
      case ("\"", true):
        if let next = iterator.next() {
          if next == "\"" {
            current.append("\"")
          } else {
            quoted = false
            if next == "," {
              fields.append(current)
              current = ""
            } else {
              current.append(next)
            }
          }
        } else {
          quoted = false
        }
      case ("\"", false) where current.isEmpty: quoted = true
      case (",", false):
        fields.append(current)
        current = ""
      default: current.append(character)
      }
    }
    fields.append(current)
    return fields
  }

  /// The user names of a users file: the first column, a header "user" skipped, blanks ignored.
  public static func users(from text: String) -> [String] {
    let names = text.split(whereSeparator: \.isNewline).map { split(String($0)).first ?? "" }
      .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return names.first?.lowercased() == "user" ? Array(names.dropFirst()) : names
  }
}

/// Reads the users file of a batch enrolment.
public func enrollmentUsers(from text: String) -> [String] { CSV.users(from: text) }
