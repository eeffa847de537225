import Foundation
import Logging

/// A swift-log handler writing one JSON object per line to standard error: time, level, label,
/// message and metadata, for log collectors. Callers put no secret and no whole code in metadata.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  let label: String

  public init(label: String) { self.label = label }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var object: [String: Any] = [
      "time": Date().formatted(.iso8601), "level": event.level.rawValue, "label": label,
      "message": "\(event.message)",
    ]
    for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
      object[key] = "\(value)"
    }
    guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
      return
    }
    data.append(0x0A)
    FileHandle.standardError.write(data)
  }
}
