import Foundation

/// What a program run to its end left: its exit status and what it wrote.
public struct ProgramRun: Sendable {
  /// The exit status, or 128 + the signal that ended it.
  public let status: Int32
  public let stdout: Data
  public let stderr: Data
}

/// Runs `path` with `arguments` and `environment` to its end, feeding it `input` (or nothing),
/// through posix_spawn rather than Foundation's Process: Process.run() on Linux (Swift 6.3.1)
/// over-reads a buffer while listing /proc/self/fd and crashes the test process now and then
/// (swift-corelibs-foundation #5472). The child inherits only its three standard descriptors.
public func runProgram(_ path: String, _ arguments: [String], environment: [String: String], input: Data?)
  throws -> ProgramRun
{
  var stdinPipe: [Int32] = [-1, -1]
  var stdoutPipe: [Int32] = [-1, -1]
  var stderrPipe: [Int32] = [-1, -1]
  guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else {
    throw POSIXError(.EMFILE)
  }
  // Other children started meanwhile must not hold these pipes open.
  for fd in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
  posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
  posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
  // glibc 2.34's closefrom for the child: every descriptor above the three standard ones.
  if let closeFrom = closeFromAction { _ = closeFrom(&actions, 3) }
  let argv = ([path] + arguments).map { strdup($0) } + [nil]
  let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
  defer { (argv + envp).forEach { free($0) } }
  var pid: pid_t = 0
  let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
  for fd in [stdinPipe[0], stdoutPipe[1], stderrPipe[1]] { close(fd) }
  guard spawned == 0 else {
    for fd in [stdinPipe[1], stdoutPipe[0], stderrPipe[0]] { close(fd) }
    throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOENT)
  }
  // The input goes in from a thread of its own, so a child that writes before it reads never
  // blocks on a full pipe.
  let feeder = Thread { [input, fd = stdinPipe[1]] in
    if let input {
      input.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
          let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
          if written <= 0 { break }
          offset += written
        }
      }
    }
    close(fd)
  }
  feeder.start()
  var outputs = [Data(), Data()]
  var open = [stdoutPipe[0], stderrPipe[0]]
  var buffer = [UInt8](repeating: 0, count: 65536)
  while open.contains(where: { $0 >= 0 }) {
    var entries = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    guard poll(&entries, nfds_t(entries.count), -1) > 0 else { continue }
    for index in entries.indices where open[index] >= 0 && entries[index].revents != 0 {
      let count = read(open[index], &buffer, buffer.count)
      if count > 0 {
        outputs[index].append(contentsOf: buffer[0..<count])
      } else if count == 0 || errno != EINTR {
        close(open[index])
        open[index] = -1
      }
    }
  }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
  let exited = status & 0x7F == 0
  return ProgramRun(
    status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), stdout: outputs[0], stderr: outputs[1])
}

/// `posix_spawn_file_actions_addclosefrom_np`, which Glibc's Swift module does not export.
private let closeFromAction:
  (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard
      let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    else {
      return nil
    }
    return unsafeBitCast(
      symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
  }()
