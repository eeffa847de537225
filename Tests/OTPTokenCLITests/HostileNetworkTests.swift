import Foundation
import Testing

/// A node facing hostile clients on loopback: a flood of idle connections from one address, and
/// malformed HTTP framing.
@Suite struct HostileNetworkTests {
  /// A TCP connection to 127.0.0.1:`port` from `source` (another loopback address), or -1.
  func connect(port: UInt16, from source: String) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, source, &local.sin_addr)
    var remote = sockaddr_in()
    remote.sin_family = sa_family_t(AF_INET)
    remote.sin_port = port.bigEndian
    inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
    let bound = withUnsafePointer(to: &local) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    let connected = withUnsafePointer(to: &remote) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard bound == 0, connected == 0 else {
      close(fd)
      return -1
    }
    return fd
  }

  /// Whether the server has closed `fd` (end of stream readable now).
  func closedByServer(_ fd: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&entry, 1, 0) == 1 else { return false }
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0
  }

  /// GET /health from 127.0.0.1, waiting at most 10 s for the answer's status line.
  func health(port: UInt16) -> String {
    exchange(port: port, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
  }

  /// Sends `text` from 127.0.0.1 and returns what arrives until the server closes the connection
  /// (at most 16 KB, each read waiting at most 10 s).
  func exchange(port: UInt16, _ text: String) -> String {
    let fd = connect(port: port, from: "127.0.0.1")
    guard fd >= 0 else { return "no connection" }
    defer { close(fd) }
    let request = Array(text.utf8)
    guard send(fd, request, request.count, 0) == request.count else { return "not sent" }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while received.count < 16_384 {
      var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&entry, 1, 10_000) == 1 else { return received.isEmpty ? "no answer in 10 s" : "not closed" }
      let count = recv(fd, &buffer, buffer.count, 0)
      guard count > 0 else { break }
      received += buffer[0..<count]
    }
    return received.isEmpty ? "closed" : String(decoding: received, as: UTF8.self)
  }

  /// `otptoken serve` on a free loopback port over a fresh database, under `prlimit` arguments.
  func startServer(_ dir: String, limits: [String] = [], options: [String] = []) throws -> (Process, UInt16) {
    let server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
    server.arguments =
      limits + [
        Binary.path, "serve", "--db", dir + "/v.sqlite", "--port", "0", "--rate-per-address", "0",
        "--log-level",
        "error",
      ] + options
    server.environment = ProcessInfo.processInfo.environment.merging(["XDG_RUNTIME_DIR": dir]) { $1 }
    let out = Pipe()
    server.standardOutput = out
    server.standardError = FileHandle.nullDevice
    try server.run()
    let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
    let listening = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    guard let port = listening?["listening"] as? Int else {
      server.terminate()
      throw CocoaError(.fileReadCorruptFile)
    }
    return (server, UInt16(port))
  }

  @Test func aChunkSizePast64BitsIsBadRequestInJSON() throws {
    let dir = temporaryDirectory()
    let binary = Binary(runtimeDirectory: dir)
    let key =
      try binary.run(["api-key", "add", "--db", dir + "/v.sqlite", "--name", "t", "--scope", "verify"])
      .stdout.split(separator: "\n").last.map { String($0.split(separator: " ").last ?? "") } ?? ""
    #expect(key.hasPrefix("otk_"))
    let (server, port) = try startServer(dir)
    defer {
      server.terminate()
      server.waitUntilExit()
    }
    let answer = exchange(
      port: port,
      "POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"
    )
    #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(120))")
    #expect(answer.contains(#""code":"malformed_request""#), "\(answer)")
  }

  /// A request line or header the parser cannot read gets the API's JSON error, and the connection
  /// closes; a good request pipelined before it is answered first.
  @Test func anUnreadableRequestHeadIsBadRequestInJSON() throws {
    let (server, port) = try startServer(temporaryDirectory())
    defer {
      server.terminate()
      server.waitUntilExit()
    }
    for garbage in [
      "GET /health HTTP/1.1 extra\r\n\r\n", "\u{1}\u{2}\r\n\r\n",
      "GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      "GET /health HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    ] {
      let answer = exchange(port: port, garbage)
      #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(120))")
      #expect(answer.lowercased().contains("content-type: application/json"), "\(answer)")
      #expect(
        answer.hasSuffix(
          #"{"error":{"code":"malformed_request","message":"the request's HTTP framing is malformed"}}"#),
        "\(answer)")
    }
    let pipelined = exchange(port: port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n")
    let statuses = pipelined.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
    #expect(statuses == ["200", "400"], "\(pipelined)")
    #expect(pipelined.contains(#""code":"malformed_request""#), "\(pipelined)")
    #expect(health(port: port).hasPrefix("HTTP/1.1 200"))
  }

  /// A client that sends half a request head and stops is cut off after the idle timeout, as is
  /// one that sends nothing.
  @Test func slowAndSilentConnectionsAreClosed() throws {
    let (server, port) = try startServer(temporaryDirectory(), options: ["--idle-timeout", "0.5"])
    defer {
      server.terminate()
      server.waitUntilExit()
    }
    let slow = connect(port: port, from: "127.0.0.1")
    let silent = connect(port: port, from: "127.0.0.1")
    defer {
      close(slow)
      close(silent)
    }
    let part = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8)
    #expect(send(slow, part, part.count, 0) == part.count)
    // Each waits (at most 10 s) until the node closes it.
    for fd in [slow, silent] {
      var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      _ = poll(&entry, 1, 10_000)
      #expect(closedByServer(fd), "\(fd == slow ? "slow" : "silent")")
    }
    #expect(health(port: port).hasPrefix("HTTP/1.1 200"))
  }

  /// The descriptors this process may open, at most.
  static var descriptorCeiling: Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(clamping: limit.rlim_max)
  }

  @Test(.enabled(if: descriptorCeiling >= 2048, "1,100 connections need 2,048 descriptors"))
  func healthAnswersWhile1100IdleConnectionsAreHeld() throws {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur < 2048 {
      limit.rlim_cur = 2048
      setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    let (server, port) = try startServer(temporaryDirectory(), limits: ["--nofile=1024:1024"])
    defer {
      server.terminate()
      server.waitUntilExit()
    }

    var held: [Int32] = []
    defer { for fd in held { close(fd) } }
    for _ in 0..<1_100 {
      let fd = connect(port: port, from: "127.0.0.2")
      if fd >= 0 { held.append(fd) }
    }
    #expect(held.count == 1_100)
    let answer = health(port: port)
    #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(80))")
    // Past the 256 an address may hold, the node closed the connections it accepted.
    var closed = 0
    for _ in 0..<100 {
      closed = held.filter(closedByServer).count
      if closed >= 1_100 - 256 { break }
      usleep(50_000)
    }
    #expect(closed >= 1_100 - 256)
    #expect(closed <= 1_100 - 256 + 1)
    #expect(health(port: port).hasPrefix("HTTP/1.1 200"))
  }
}
