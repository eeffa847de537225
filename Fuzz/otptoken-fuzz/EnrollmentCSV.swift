import Enrollment
import Foundation

/// The users list `otptoken enroll` reads, and a report journal it resumes from.
func fuzzEnrollmentCSV(_ bytes: [UInt8]) {
  let text = String(decoding: bytes, as: UTF8.self)
  _ = enrollmentUsers(from: text)
  _ = EnrollmentReport.rows(in: text)
}
