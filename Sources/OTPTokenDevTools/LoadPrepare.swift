import ArgumentParser
import OTPTokenCLI
import Foundation
import OneTimePassword
import Verifier

/// Seeds a store for an HTTP load run and writes the requests the load generator sends.
struct LoadPrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "load-prepare",
    abstract: "Seed users with tokens and write valid verification requests for an HTTP load run (wrk).",
    discussion: """
      For benchmarks only (scripts/load-http.sh). Creates --users users, each with one token, in the
      store (SQLite or --postgres), issues a verify API key, and writes into --out: 'key' (the API key)
      and 'bodies-N.txt' per load-generator thread N, one JSON request body per line. Each thread
      gets its own users, and each user's codes come in counter order, --users / --threads requests
      apart, so concurrent requests never race on one token and every request is a fresh, valid code.

      Example:
        otptoken-dev load-prepare --db /tmp/load.sqlite --users 10000 --codes 20 --threads 2 --out /tmp/load
      """)
  @OptionGroup var verifier: VerifierOptions
  @Option(help: "Users (one token each).") var users = 10_000
  @Option(help: "Codes per user.") var codes = 20
  @Option(help: "Load-generator threads (one request file each).") var threads = 2
  @Option(help: "First user number (to prepare disjoint users for several runs on one store).") var first = 0
  @Option(help: "Folder for the key and the request files.") var out: String

  func validate() throws {
    guard (1...1_000_000).contains(users), (1...1000).contains(codes), (1...64).contains(threads), first >= 0
    else { throw ValidationError("--users 1…1000000, --codes 1…1000, --threads 1…64, --first ≥ 0") }
    guard users % threads == 0 else { throw ValidationError("--users must be a multiple of --threads") }
  }

  func run() throws {
    let (store, keys) = try verifier.open(json: false)
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    var generators: [HOTPGenerator] = []
    for index in first..<(first + users) {
      let secret = OTPSecret.random(count: 20)
      generators.append(try HOTPGenerator(secret: secret))
      let name = "load\(index)"
      let audit = AuditEntry(
        at: 0, user: name, factor: nil, action: "user-add", result: "done", reason: "load")
      let user = try store.createUser(name: name, audit: audit)
      _ = try store.insertHOTPFactor(
        NewHOTPFactor(
          userID: user.id, serial: "L\(index)", digits: 6, algorithm: .sha1,
          sealedSecret: try keys.seal(
            secret.bytes, context: HOTPVerifier.sealingContext(serial: "L\(index)")),
          counter: 0, active: true),
        audit: audit)
    }
    let key = try verifierCall(json: false) { () throws(VerifierError) in
      try ClientKeys(store: store).issue(name: "load-\(first)-\(getpid())", scope: .verify)
    }
    try Data(key.utf8).write(to: URL(fileURLWithPath: out + "/key"))
    let perThread = users / threads
    for thread in 0..<threads {
      var text = ""
      for counter in 0..<codes {
        for offset in 0..<perThread {
          let index = thread * perThread + offset
          let code = generators[index].code(counter: UInt64(counter)).text
          text += #"{"user":"load\#(first + index)","code":"\#(code)"}"# + "\n"
        }
      }
      try Data(text.utf8).write(to: URL(fileURLWithPath: out + "/bodies-\(thread).txt"))
    }
    Output.stderr("prepared \(users) users × \(codes) codes in \(out)")
  }
}
