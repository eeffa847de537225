import Foundation

/// A new empty folder for one test (`purpose` names it), readable by this user only. Every folder
/// of a test process lies under one root, `otptoken-tests-PID` in the temporary directory, which is
/// removed when the process exits: tests write master keys and token secrets there, and none may
/// outlive the run.
public func scratchDirectory(_ purpose: String) -> String {
  let path = scratchRoot + "/" + purpose + "-" + UUID().uuidString.prefix(8)
  try! FileManager.default.createDirectory(
    atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
  return path
}

/// This process's root, made (0700) and scheduled for removal at exit on first use.
private let scratchRoot: String = {
  let root = rootPath()
  try! FileManager.default.createDirectory(
    atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  atexit { try? FileManager.default.removeItem(atPath: rootPath()) }
  return root
}()

private func rootPath() -> String { NSTemporaryDirectory() + "otptoken-tests-\(getpid())" }
