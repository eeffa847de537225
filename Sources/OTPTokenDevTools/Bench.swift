import ArgumentParser
import OTPTokenCLI
import Foundation
import OneTimePassword
import Verifier
import VerifierSQLite

struct BenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure the verifier: HOTP candidates per second, durable verifications per second, latency.",
    discussion: """
      A benchmark, not a test: it prints figures, it asserts nothing. Build in release mode for
      meaningful numbers (`make bench`). It creates a SQLite file of --tokens users with one token each
      (WAL, synchronous=FULL) in a temporary folder and removes it afterwards; the process is pinned
      to --cores cores (one by default), so the figures are per core. Verifications go through the
      one code step every caller uses.

      Example:
        otptoken-dev bench --tokens 100000 --seconds 5 --json
      """)

  @Option(help: "Tokens in the database.") var tokens = 100_000
  @Option(help: "Seconds each timed phase runs.") var seconds = 3.0
  @Option(help: "Folder for the temporary database (default: the system's temporary folder).") var directory:
    String?
  @Option(help: "Concurrent callers during the verification phases (their writes share commits).")
  var clients = 16
  @Option(help: "CPU cores the process may use (pinned with sched_setaffinity); 0 leaves it unpinned.")
  var cores = 1
  @Flag(help: "Print one JSON object.") var json = false

  func validate() throws {
    guard (1...10_000_000).contains(tokens) else { throw ValidationError("--tokens must be 1 to 10000000") }
    guard seconds > 0 && seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
    guard (1...256).contains(clients) else { throw ValidationError("--clients must be 1 to 256") }
    guard clients <= tokens else { throw ValidationError("--clients may not exceed --tokens") }
  }

  func run() async throws {
    var figures: [String: Any] = [:]
    if cores > 0 { Self.pin(cores: cores) }
    figures["cores"] = cores
    figures["clients"] = clients
    #if DEBUG
      figures["build"] = "debug"
      Output.stderr("otptoken-dev bench: this is a debug build; use `make bench` (release) for real figures")
    #else
      figures["build"] = "release"
    #endif
    // Whether the Swift runtime is linked in (as `make bench` builds it) or loaded as shared
    // libraries: the resident memory differs by about 4 MB.
    figures["swift_runtime"] = dlopen("libswiftCore.so", RTLD_NOW | RTLD_NOLOAD) == nil ? "static" : "shared"
    // The engine in use, the portable one, and OpenSSL's block function alone, alternated so that
    // a noisy host weighs on each alike; the best of two rounds each.
    var rates: [String: Double] = [:]
    for _ in 0..<2 {
      for (name, measure) in [
        ("hotp", { hotpRate(.current) }), ("portable", { hotpRate(.portable) }),
        ("openssl", { SHA1Engine.openSSLReferenceRate(seconds: min(seconds, 1)) }),
      ] as [(String, () -> Double)] {
        rates[name] = max(rates[name] ?? 0, measure())
      }
    }
    figures["hotp_engine"] = SHA1Engine.current.rawValue
    figures["hotp_candidates_per_s"] = Int(rates["hotp"]!)
    figures["hotp_portable_per_s"] = Int(rates["portable"]!)
    figures["hotp_openssl_reference_per_s"] = Int(rates["openssl"]!)
    figures["hotp_of_openssl"] = (rates["hotp"]! / rates["openssl"]! * 1000).rounded() / 1000
    Output.stderr(
      "hotp (\(SHA1Engine.current.rawValue)): \(figures["hotp_candidates_per_s"]!) candidates/s, "
        + "\(figures["hotp_of_openssl"]!) of OpenSSL's block function alone "
        + "(\(figures["hotp_openssl_reference_per_s"]!)); portable: \(figures["hotp_portable_per_s"]!)")

    let folder = (directory ?? NSTemporaryDirectory()) + "/otptoken-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let keys = MasterKeyRing.generate()
    let store = try SQLiteStore(path: folder + "/bench.sqlite")
    let setupStart = ContinuousClock.now
    let secrets = try seed(store, keys)
    figures["tokens"] = tokens
    figures["seed_s"] = Self.seconds(ContinuousClock.now - setupStart)
    Output.stderr("seeded \(tokens) tokens in \(figures["seed_s"]!) s")

    let verifier = try HOTPVerifier(store: store, keys: keys)
    let accounts = Accounts(store: store, hotp: verifier)
    var counters = [UInt64](repeating: 0, count: tokens)

    // Accepted verifications: concurrent callers, each on its own share of the tokens, each call
    // with that token's next code. Every acceptance is durable before the call returns.
    let accept = try await timedPhase(accounts, secrets: secrets, counters: &counters, valid: true)
    figures["verify_accept_per_s"] = Int(accept.rate)
    figures["verify_p50_ms"] = Double(accept.latencies[accept.latencies.count / 2]) / 1e3
    figures["verify_p99_ms"] =
      Double(accept.latencies[min(accept.latencies.count - 1, accept.latencies.count * 99 / 100)]) / 1e3
    Output.stderr(
      "accept: \(figures["verify_accept_per_s"]!)/s, p50 \(figures["verify_p50_ms"]!) ms, p99 \(figures["verify_p99_ms"]!) ms"
    )

    // Explicit resync across (almost) the whole 10,000-step window, through the store, before the
    // refusals charge the tokens failures.
    var resyncTimes: [Duration] = []
    for run in 0..<9 {
      let target = run % tokens
      let far = counters[target] + 9_998
      let begin = ContinuousClock.now
      let decision = try verifier.resync(
        user: "user\(target)",
        codes: (try secrets.code(target, counter: far).text, try secrets.code(target, counter: far + 1).text))
      resyncTimes.append(ContinuousClock.now - begin)
      guard decision.isAccepted else {
        throw CLIFailure(.environment, "bench: resync refused (\(decision.reason))")
      }
      counters[target] = far + 2
    }
    resyncTimes.sort()
    figures["resync_10k_ms"] = Self.milliseconds(resyncTimes[resyncTimes.count / 2])
    Output.stderr("resync over 10,000: \(figures["resync_10k_ms"]!) ms")

    // Refused verifications: wrong codes, walking through the tokens so none is throttled.
    let reject = try await timedPhase(accounts, secrets: secrets, counters: &counters, valid: false)
    figures["verify_reject_per_s"] = Int(reject.rate)
    figures["verify_reject_p99_ms"] =
      Double(reject.latencies[min(reject.latencies.count - 1, reject.latencies.count * 99 / 100)]) / 1e3
    Output.stderr("reject: \(figures["verify_reject_per_s"]!)/s")

    // The same walk again within five minutes: each token now remembers a refused code, so each
    // refusal also searches the sync window for a pair (auto-resync's dear case).
    let again = try await timedPhase(accounts, secrets: secrets, counters: &counters, valid: false)
    figures["verify_reject_repeat_per_s"] = Int(again.rate)
    Output.stderr("reject with a refused code remembered: \(figures["verify_reject_repeat_per_s"]!)/s")

    figures["rss_mb"] = Self.residentMegabytes()
    Output.stderr("resident memory \(figures["rss_mb"]!) MB")
    if json { Output.json(figures) }
  }

  /// Runs `clients` concurrent tasks for `seconds`, each verifying codes of its own tokens (client
  /// c owns tokens c, c + clients, …): the next valid code, or a wrong one.
  func timedPhase(
    _ accounts: Accounts, secrets: Secrets, counters: inout [UInt64], valid: Bool
  ) async throws
    -> (rate: Double, latencies: [UInt32])
  {
    /// What one client did.
    struct Share: Sendable {
      /// Microseconds, four bytes each: a phase records tens of thousands.
      var latencies: [UInt32] = []
      var moved: [Int: UInt64] = [:]
      var failure: String?
    }
    let tokens = secrets.count
    let (clients, limit, initial) = (self.clients, seconds, counters)
    let start = ContinuousClock.now
    let shares = await withTaskGroup(of: Share.self) { group in
      for client in 0..<clients {
        group.addTask {
          var share = Share()
          var rng = SystemRandomNumberGenerator()
          let slots = (tokens - client + clients - 1) / clients
          var cursor = 0
          while share.failure == nil && Self.seconds(ContinuousClock.now - start) < limit {
            let slot = valid ? Int.random(in: 0..<slots, using: &rng) : cursor
            cursor = (cursor + 1) % slots
            let index = client + clients * slot
            let counter = share.moved[index] ?? initial[index]
            let code: String
            do {
              let right = try secrets.code(index, counter: counter)
              code = valid ? right.text : OTPCode(value: (right.value + 1) % 1_000_000, digits: 6).text
            } catch {
              share.failure = "\(error)"
              break
            }
            let begin = ContinuousClock.now
            do {
              let decision = try await accounts.verify(user: "user\(index)", code: code)
              share.latencies.append(Self.microseconds(ContinuousClock.now - begin))
              if valid {
                if decision.isAccepted {
                  share.moved[index] = counter + 1
                } else if decision.reason == .replay, try secrets.recurs(index, counter: counter) {
                  // Its value is also one of the token's last used codes: refused by design, and
                  // the token's next press has the next counter.
                  share.moved[index] = counter + 1
                } else {
                  share.failure = "a valid code was refused (\(decision.reason))"
                }
              }
            } catch { share.failure = "\(error)" }
          }
          return share
        }
      }
      return await group.reduce(into: []) { $0.append($1) }
    }
    let elapsed = Self.seconds(ContinuousClock.now - start)
    if let failure = shares.compactMap(\.failure).first {
      throw CLIFailure(.environment, "bench: \(failure)")
    }
    for share in shares { for (index, counter) in share.moved { counters[index] = counter } }
    let all = shares.flatMap(\.latencies).sorted()
    guard !all.isEmpty else { throw CLIFailure(.environment, "bench: no verification completed") }
    return (Double(all.count) / elapsed, all)
  }

  /// Restricts the process to its first `cores` CPUs.
  static func pin(cores: Int) {
    var set = cpu_set_t()
    withUnsafeMutableBytes(of: &set) { bytes in
      for cpu in 0..<min(cores, bytes.count * 8) { bytes[cpu / 8] |= UInt8(1 << (cpu % 8)) }
    }
    // glibc declares sched_setaffinity only under _GNU_SOURCE, which Swift's Glibc module lacks.
    typealias SetAffinity = @convention(c) (pid_t, Int, UnsafeRawPointer) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return }
    let setAffinity = unsafeBitCast(symbol, to: SetAffinity.self)
    if setAffinity(0, MemoryLayout<cpu_set_t>.size, &set) != 0 {
      Output.stderr(
        "otptoken-dev bench: could not pin to \(cores) core(s); figures are for the whole machine")
    }
  }

  /// HOTP candidates examined per second by one thread on `engine`, with the key pads
  /// precomputed, the way a verification does: a code looked for in 1,000-counter windows.
  func hotpRate(_ engine: SHA1Engine) -> Double {
    let generator = try! HOTPGenerator(secret: .random(), engine: engine)
    let absent = OTPCode(value: 1_000_000 - 1, digits: 6)
    var found = 0
    var counter: UInt64 = 0
    let start = ContinuousClock.now
    while Self.seconds(ContinuousClock.now - start) < min(seconds, 1) {
      for _ in 0..<100 {
        if generator.find(absent, from: counter, count: 1000) != nil { found += 1 }
        counter &+= 1000
      }
    }
    let elapsed = Self.seconds(ContinuousClock.now - start)
    if found == -1 { Output.stderr("") }  // keeps the loop from being optimised away
    return Double(counter) / elapsed
  }

  /// The seeded tokens' secrets, as the callers know them: each derived from a random seed of the
  /// run and the token's index (SplitMix64), so the bench keeps none in memory and its own share of
  /// the resident memory it reports stays small. They are throw-away test keys, not secrets.
  struct Secrets: Sendable {
    let count: Int
    var seed = UInt64.random(in: .min ... .max)

    /// Token `index`'s 20-byte secret.
    func secret(_ index: Int) -> [UInt8] {
      var state = seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
      var bytes: [UInt8] = []
      bytes.reserveCapacity(24)
      for _ in 0..<3 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        bytes += withUnsafeBytes(of: z.littleEndian, Array.init)
      }
      return Array(bytes.prefix(20))
    }

    /// Token `index`'s code at `counter`.
    func code(_ index: Int, counter: UInt64) throws -> OTPCode {
      try HOTPGenerator(secret: OTPSecret(bytes: secret(index))).code(counter: counter)
    }

    /// Whether token `index`'s code at `counter` has the value of one of the codes the verifier
    /// remembers as used below it (its replay look-back): about once in 50,000 codes with six digits.
    func recurs(_ index: Int, counter: UInt64) throws -> Bool {
      let code = try self.code(index, counter: counter)
      let lookback = UInt64(VerifierSettings().replayLookback)
      for earlier in counter - min(counter, lookback)..<counter
      where try self.code(index, counter: earlier) == code {
        return true
      }
      return false
    }
  }

  /// Users user0 … userN-1, each with one token seeded with a random secret.
  func seed(_ store: SQLiteStore, _ keys: MasterKeyRing) throws -> Secrets {
    let secrets = Secrets(count: tokens)
    var batch: [(user: String, factor: NewHOTPFactor)] = []
    for index in 0..<tokens {
      let serial = "B\(index)"
      batch.append(
        (
          "user\(index)",
          NewHOTPFactor(
            userID: nil, serial: serial, digits: 6, algorithm: .sha1,
            sealedSecret: try keys.seal(
              secrets.secret(index), context: HOTPVerifier.sealingContext(serial: serial)),
            counter: 0,
            active: true)
        ))
      if batch.count == 10_000 || index == tokens - 1 {
        try store.bulkInsert(batch, at: 0)
        batch = []
      }
    }
    return secrets
  }

  static func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  static func milliseconds(_ d: Duration) -> Double { (seconds(d) * 1e6).rounded() / 1e3 }

  /// `d` in whole microseconds, at most UInt32.max (71 minutes).
  static func microseconds(_ d: Duration) -> UInt32 { UInt32(min(seconds(d) * 1e6, Double(UInt32.max))) }

  static func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
      let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return (kb / 1024 * 10).rounded() / 10
  }
}
