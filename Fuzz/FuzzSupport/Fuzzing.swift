import Foundation

/// The glue of the fuzzing executable. Built with `-sanitize=fuzzer -DOTPTOKEN_FUZZING`
/// (`scripts/fuzz.sh`), it hands its inputs to libFuzzer's driver; built normally, the same
/// executable replays corpus files and folders, so `make test` can check that every committed
/// input still goes through without a crash.
public enum Fuzzing {
  #if OTPTOKEN_FUZZING
    /// libFuzzer's entry point for programs that keep their own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    static func runDriver(
      _ argc: UnsafeMutablePointer<Int32>,
      _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// Runs libFuzzer with `callback` (the fuzzer's `LLVMFuzzerTestOneInput`).
    public static func drive(
      _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32 {
      var count = argc
      var vector = argv
      return runDriver(&count, &vector, callback)
    }

    /// The fuzzer `$OTPTOKEN_FUZZER` names; the process stops with the list if it names none.
    public static func choose(from fuzzers: [String: @Sendable ([UInt8]) -> Void])
      -> @Sendable ([UInt8]) -> Void
    {
      let name = ProcessInfo.processInfo.environment["OTPTOKEN_FUZZER"] ?? ""
      guard let fuzzer = fuzzers[name] else {
        FileHandle.standardError.write(
          Data("set OTPTOKEN_FUZZER to one of: \(fuzzers.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
      }
      return fuzzer
    }
  #endif

  /// One input as bytes.
  public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  }

  /// `NAME CORPUS...` from the command line: feeds every file (folders: every file in them) to the
  /// fuzzer named.
  public static func replay(_ fuzzers: [String: @Sendable ([UInt8]) -> Void]) {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let name = arguments.first, let body = fuzzers[name] else {
      FileHandle.standardError.write(
        Data(
          "usage: otptoken-fuzz NAME CORPUS...; NAME is one of \(fuzzers.keys.sorted().joined(separator: ", "))\n"
            .utf8))
      exit(2)
    }
    var count = 0
    for argument in arguments.dropFirst() {
      var isFolder: ObjCBool = false
      guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
        FileHandle.standardError.write(Data("no such corpus: \(argument)\n".utf8))
        exit(2)
      }
      let files =
        isFolder.boolValue
        ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map {
          argument + "/" + $0
        } : [argument]
      for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        body(Array(data))
        count += 1
      }
    }
    print("\(name): replayed \(count) inputs")
  }
}
