import Foundation
import TestScratch
import Testing

/// Runs the built `otptoken` (or `otptoken-dev`) as a user would and captures what it printed and
/// its exit status.
struct Binary {
  struct Result {
    let status: Int32
    let stdout: String
    let stderr: String
    var json: [String: Any]? {
      (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
  }

  static var path: String { path(of: "otptoken") }

  /// A built executable of this package: from the folder of `$OTPTOKEN_BIN` if set, else the
  /// debug build.
  static func path(of tool: String) -> String {
    if let path = ProcessInfo.processInfo.environment["OTPTOKEN_BIN"] {
      return (path as NSString).deletingLastPathComponent + "/" + tool
    }
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    return root.appendingPathComponent(".build/debug/" + tool).path
  }

  /// The executable run: `otptoken` unless told otherwise.
  var tool = "otptoken"

  let environment: [String: String]
  /// A command the binary runs under (faketime), if any.
  let wrapper: [String]

  init(
    runtimeDirectory: String, extra: [String: String] = [:], wrapper: [String] = [], tool: String = "otptoken"
  ) {
    self.wrapper = wrapper
    self.tool = tool
    var environment = ProcessInfo.processInfo.environment
    environment["XDG_RUNTIME_DIR"] = runtimeDirectory
    environment.removeValue(forKey: "OTPTOKEN_DB")
    environment.removeValue(forKey: "OTPTOKEN_KEY_FILE")
    environment.merge(extra) { _, new in new }
    self.environment = environment
  }

  /// Runs the binary to its end; `input`, if given, is its standard input.
  func run(_ arguments: [String], input: String? = nil) throws -> Result {
    if let launcher = wrapper.first {
      return try run(
        executable: launcher, Array(wrapper.dropFirst()) + [Self.path(of: tool)] + arguments, input: input)
    }
    return try run(executable: Self.path(of: tool), arguments, input: input)
  }

  /// Runs any program in the binary's environment (a wrapper around it, for instance) to its end.
  func run(executable: String, _ arguments: [String], input: String? = nil) throws -> Result {
    let run = try runProgram(
      executable, arguments, environment: environment, input: input.map { Data($0.utf8) })
    return Result(
      status: run.status, stdout: String(decoding: run.stdout, as: UTF8.self),
      stderr: String(decoding: run.stderr, as: UTF8.self))
  }

  /// Starts a long-running command (a simulated token) and returns it.
  func start(_ arguments: [String], stderr: Pipe? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.path)
    process.arguments = arguments
    process.environment = environment
    process.standardError = stderr ?? FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return process
  }
}

func temporaryDirectory() -> String { scratchDirectory("cli") }

/// Waits (bounded) for a socket file to appear and accept.
func waitForSocket(_ path: String) -> Bool {
  for _ in 0..<400 {
    if FileManager.default.fileExists(atPath: path) { return true }
    usleep(10_000)
  }
  return false
}

/// Collects what a process writes to a pipe without ever blocking the reader.
final class LogCollector: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()

  init(_ pipe: Pipe) {
    pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
      let chunk = handle.availableData
      guard let self, !chunk.isEmpty else { return }
      self.lock.withLock { self.data.append(chunk) }
    }
  }

  var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

@Suite struct SpawnTests {
  /// A child sees its three standard descriptors and nothing else of the test process.
  @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
    let held = open("/dev/null", O_RDONLY)  // not close-on-exec
    defer { close(held) }
    let run = try runProgram("/bin/ls", ["/proc/self/fd"], environment: [:], input: nil)
    let descriptors = String(decoding: run.stdout, as: UTF8.self).split(separator: "\n").compactMap {
      Int($0)
    }
    #expect(run.status == 0)
    // 3 is ls's own handle on the folder it lists.
    #expect(descriptors.allSatisfy { $0 <= 3 } && descriptors.contains(2), "\(descriptors)")
    #expect(
      try runProgram("/bin/sh", ["-c", "cat; exit 7"], environment: [:], input: Data("in".utf8)).stdout
        == Data("in".utf8))
    #expect(try runProgram("/bin/sh", ["-c", "exit 7"], environment: [:], input: nil).status == 7)
  }
}
