import FuzzSupport

/// The fuzzers by name. Built for libFuzzer (`scripts/fuzz.sh`), the one to run is named by
/// `$OTPTOKEN_FUZZER`, since libFuzzer owns the arguments; built normally,
/// `otptoken-fuzz NAME CORPUS...` replays corpus files through it.
let fuzzers: [String: @Sendable ([UInt8]) -> Void] = [
  "wire": fuzzWire,
  "virtual-hid": fuzzVirtualHID,
  "codes": fuzzCodes,
  "enrollment-csv": fuzzEnrollmentCSV,
  "pskc": fuzzPSKC,
  "browser-input": fuzzBrowserInput,
  "radius": fuzzRADIUS,
  "usbip": fuzzUSBIP,
]

#if OTPTOKEN_FUZZING
  @_cdecl("LLVMFuzzerTestOneInput")
  func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    chosen(Fuzzing.bytes(data, size))
    return 0
  }

  let chosen = Fuzzing.choose(from: fuzzers)

  @_cdecl("otptoken_fuzz_main")
  func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzzing.drive(argc, argv, testOneInput)
  }
#else
  @main struct Replay { static func main() { Fuzzing.replay(fuzzers) } }
#endif
