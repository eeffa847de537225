import Foundation
import StoreFixtures
import Testing

/// Every kind of attempt through the command line: many processes sharing one database are held
/// to the same attempt accounting as threads in one. The binaries run under libfaketime with the
/// clock stopped, so the throttle's first delay never runs out during the test.
@Suite struct AttemptCLITests {
  /// The stopped clock's time: 2027-01-15 08:00:00 UTC.
  static let start = 1_800_000_000

  /// The kinds of attempt, each on a user who has only that kind, and the command of a wrong one.
  enum Kind: String, CaseIterable {
    case token, phoneApp, recoveryCode, password, appPassword
  }

  /// Sets up the user of `kind` and returns the arguments of a wrong attempt.
  func prepare(_ kind: Kind, _ binary: Binary, _ dir: String) throws -> [String] {
    let user = kind.rawValue
    let add = ["user", "add", "--user", user]
    switch kind {
    case .token:
      var root = URL(fileURLWithPath: #filePath)
      for _ in 0..<2 { root.deleteLastPathComponent() }
      let file = root.appendingPathComponent("SeedImportTests/PSKC/rfc6030-figure3.pskcxml").path
      #expect(try binary.run(add).status == 0)
      #expect(try binary.run(["import", file]).status == 0)
      // RFC 4226 key, 8 digits: counters 0 and 1 prove the token.
      #expect(
        try binary.run(["assign", "--user", user, "--serial", "987654321", "84755224", "94287082"]).status
          == 0)
      return ["verify", "--user", user, "--json", "00000000"]
    case .phoneApp:
      #expect(try binary.run(add).status == 0)
      let uri = try #require(
        try binary.run(["totp", "enroll", "--user", user, "--qr", dir + "/qr.png", "--json"]).json?["uri"]
          as? String)
      let secret = try #require(URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value)
      let right = try oathtool(secret, at: Int64(Self.start))
      #expect(try binary.run(["totp", "confirm", "--user", user, right]).status == 0)
      let wrong = String(format: "%06d", (Int(right)! + 500_000) % 1_000_000)
      return ["verify", "--user", user, "--json", wrong]
    case .recoveryCode:
      #expect(try binary.run(add).status == 0)
      let codes = try #require(
        try binary.run(["recovery", "new", "--user", user, "--json"]).json?["codes"] as? [String])
      return ["verify", "--user", user, "--json", codes.contains("zzzz-zzzz") ? "yyyy-yyyy" : "zzzz-zzzz"]
    case .password:
      #expect(try binary.run(add + ["--password-stdin"], input: "correct horse\n").status == 0)
      return ["login", "--user", user, "--password", "wrong horse", "--json"]
    case .appPassword:
      #expect(try binary.run(add).status == 0)
      #expect(try binary.run(["app-password", "add", "--user", user, "--name", "mail"]).status == 0)
      return ["login", "--user", user, "--password", "abcdefghijklmnop", "--json"]
    }
  }

  /// 16 processes at once make a wrong attempt of each kind: no more are evaluated than the
  /// throttle allows before its first delay (5), the others are refused unevaluated, and the audit
  /// log holds one line for each evaluated failure.
  @Test(arguments: Kind.allCases)
  func sixteenProcessesEvaluateNoMoreThanTheThrottleAllows(kind: Kind) throws {
    let dir = temporaryDirectory()
    let binary = Binary(
      runtimeDirectory: dir,
      extra: ["OTPTOKEN_DB": dir + "/v.sqlite", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"],
      wrapper: ["/usr/bin/faketime", "-f", "2027-01-15 08:00:00"])
    let wrong = try prepare(kind, binary, dir)
    let answers = Mutex16()
    DispatchQueue.concurrentPerform(iterations: 16) { _ in
      let result = try? binary.run(wrong)
      answers.append(result)
    }
    let results = answers.all
    #expect(results.count == 16 && results.allSatisfy { $0?.status == 1 })
    let reasons = results.compactMap { $0?.json?["reason"] as? String ?? $0?.json?["detail"] as? String }
    let evaluated = reasons.filter { $0 == "wrong-code" || $0 == "wrong user name or password" }.count
    #expect(evaluated == 5, "\(reasons)")
    #expect(reasons.filter { $0 == "throttled" }.count == 16 - evaluated)
    let audit = try #require(
      try binary.run(["audit", "--user", kind.rawValue, "--limit", "1000", "--json"]).json?["entries"]
        as? [[String: Any]])
    let failures = audit.filter { ["wrong-code", "wrong-password"].contains($0["reason"] as? String) }
    #expect(failures.count == evaluated)
  }
}

/// Results gathered from concurrent threads.
final class Mutex16: @unchecked Sendable {
  private let lock = NSLock()
  private var results: [Binary.Result?] = []
  func append(_ result: Binary.Result?) { lock.withLock { results.append(result) } }
  var all: [Binary.Result?] { lock.withLock { results } }
}
