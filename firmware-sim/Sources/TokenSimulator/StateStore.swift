import Foundation
import TokenFirmware

#if canImport(Glibc)
  import Glibc
#endif

/// Where a simulated token keeps its non-volatile state.
public protocol StateStore: Sendable {
  /// The stored state, nil if there is none yet; throws if it exists but cannot be read.
  func load() throws -> NonVolatileState?
  /// Replaces the stored state durably and atomically: afterwards either all of it or none of it
  /// is on disk, whatever happens to the process.
  func save(_ state: NonVolatileState) throws
}

/// Why the simulator's state could not be read or written.
public enum StateStoreError: Error, CustomStringConvertible, Equatable {
  case io(String)
  case corrupt(String)
  case powerCut

  public var description: String {
    switch self {
    case .io(let why): return why
    case .corrupt(let why): return "the simulated token's state is unreadable: \(why)"
    case .powerCut: return "power was cut during the write"
    }
  }
}

/// State kept in memory, for tests.
public final class MemoryStateStore: StateStore, @unchecked Sendable {
  private let lock = NSLock()
  private var state: NonVolatileState?
  public init(_ state: NonVolatileState? = nil) { self.state = state }
  public func load() throws -> NonVolatileState? { lock.withLock { state } }
  public func save(_ state: NonVolatileState) throws { lock.withLock { self.state = state } }
}

/// State kept in `DIR/state.json` (mode 0600, folder 0700), replaced by write, fsync, rename and
/// fsync of the folder, so a SIGKILL or power cut leaves the old or the new state, never a mix.
public struct DirectoryStateStore: StateStore {
  public let directory: String
  public var file: String { directory + "/state.json" }

  /// Uses `directory`, creating it owner-only if it does not exist.
  public init(directory: String) throws {
    self.directory = directory
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else { throw StateStoreError.io("\(directory) is not a directory") }
    } else {
      do {
        try FileManager.default.createDirectory(
          atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      } catch {
        throw StateStoreError.io("cannot create \(directory): \(error.localizedDescription)")
      }
    }
  }

  public func load() throws -> NonVolatileState? {
    guard FileManager.default.fileExists(atPath: file) else { return nil }
    guard let data = FileManager.default.contents(atPath: file) else {
      throw StateStoreError.io("cannot read \(file)")
    }
    guard data.count <= 1 << 20 else { throw StateStoreError.corrupt("\(file) is over 1 MiB") }
    do {
      return try JSONDecoder().decode(NonVolatileState.self, from: data)
    } catch {
      throw StateStoreError.corrupt("\(file): \(error)")
    }
  }

  public func save(_ state: NonVolatileState) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try writeAtomically(Array(try encoder.encode(state)))
  }

  /// Writes `bytes` to a temporary file, syncs it, renames it over the state file and syncs the
  /// folder. `cutAfter` stops after that many bytes of the temporary file (a simulated power cut).
  func writeAtomically(_ bytes: [UInt8], cutAfter: Int? = nil) throws {
    let temporary = file + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw StateStoreError.io("cannot create \(temporary): \(errnoText())") }
    var closed = false
    defer { if !closed { close(fd) } }
    let limit = min(bytes.count, cutAfter ?? bytes.count)
    var offset = 0
    while offset < limit {
      let written = bytes[offset..<limit].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if written < 0 {
        if errno == EINTR { continue }
        throw StateStoreError.io("cannot write \(temporary): \(errnoText())")
      }
      offset += written
    }
    if cutAfter != nil { throw StateStoreError.powerCut }
    guard fsync(fd) == 0 else { throw StateStoreError.io("cannot sync \(temporary): \(errnoText())") }
    closed = true
    guard close(fd) == 0 else { throw StateStoreError.io("cannot close \(temporary): \(errnoText())") }
    guard rename(temporary, file) == 0 else {
      throw StateStoreError.io("cannot replace \(file): \(errnoText())")
    }
    let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard dirFD >= 0 else { throw StateStoreError.io("cannot open \(directory): \(errnoText())") }
    defer { close(dirFD) }
    guard fsync(dirFD) == 0 else { throw StateStoreError.io("cannot sync \(directory): \(errnoText())") }
  }

  private func errnoText() -> String { String(cString: strerror(errno)) }
}
