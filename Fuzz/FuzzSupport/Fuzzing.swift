import Foundation

/// The glue every fuzzer shares. Built with `-sanitize=fuzzer -DOTPTOKEN_FUZZING`
/// (`scripts/fuzz.sh`), a fuzzer hands its inputs to libFuzzer's driver; built normally, the same
/// executable replays corpus files and folders given as arguments, so `make test` can check that
/// every committed input still goes through without a crash.
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
  #endif

  /// One input as bytes.
  public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  }

  /// Feeds every file named on the command line (folders: every file in them) to `body`.
  public static func replay(_ body: ([UInt8]) -> Void) {
    var count = 0
    for argument in CommandLine.arguments.dropFirst() {
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
    print("replayed \(count) inputs")
  }
}
