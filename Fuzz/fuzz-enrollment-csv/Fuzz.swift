import Enrollment
import Foundation
import FuzzSupport

/// The users list `otptoken enroll` reads, and a report journal it resumes from.
func fuzz(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  _ = enrollmentUsers(from: text)
  _ = EnrollmentReport.rows(in: text)
}

#if OTPTOKEN_FUZZING
  @_cdecl("LLVMFuzzerTestOneInput")
  func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzz(Fuzzing.bytes(data, size))
    return 0
  }

  @_cdecl("fuzz_enrollment_csv_main")
  func entry(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzzing.drive(argc, argv, testOneInput)
  }
#else
  @main struct Replay { static func main() { Fuzzing.replay(fuzz) } }
#endif
