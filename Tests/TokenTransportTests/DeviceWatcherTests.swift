import Foundation
import Synchronization
import Testing
import TokenTransport

/// A scripted scan: each call returns the next list (the last one repeats).
final class ScriptedScan: Sendable {
  private let script: Mutex<[[DeviceDescription]]>
  let calls = Atomic<Int>(0)
  init(_ script: [[DeviceDescription]]) { self.script = Mutex(script) }
  func next() -> [DeviceDescription] {
    calls.add(1, ordering: .relaxed)
    return script.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
  }
}

final class SleepLog: Sendable {
  private let log = Mutex<[Duration]>([])
  func record(_ d: Duration) { log.withLock { $0.append(d) } }
  var sleeps: [Duration] { log.withLock { $0 } }
}

func token(_ path: String) -> DeviceDescription {
  DeviceDescription(
    kind: .hidraw, path: path, vendorID: 0x1050, productID: 0x0407, release: 0x0543, usagePage: 1,
    usage: 6, serialString: nil, manufacturer: "Yubico", product: "YubiKey")
}

@Suite struct HotplugTests {
  func watch(
    events: [USBEvent], scans: [[DeviceDescription]], count: Int
  ) async -> (changes: [DeviceChange], sleeps: [Duration], scans: Int) {
    let scan = ScriptedScan(scans)
    let log = SleepLog()
    let watcher = DeviceWatcher(
      scan: { scan.next() }, sleep: { log.record($0) }, debounce: .milliseconds(250),
      backoffs: [.milliseconds(250), .milliseconds(500), .seconds(1)])
    let (stream, continuation) = AsyncStream<USBEvent>.makeStream()
    for event in events { continuation.yield(event) }
    continuation.finish()
    var changes: [DeviceChange] = []
    for await change in watcher.changes(events: stream) {
      changes.append(change)
      if changes.count == count { break }
    }
    return (changes, log.sleeps, scan.calls.load(ordering: .relaxed))
  }

  @Test func presentTokensComeFirst() async {
    let result = await watch(events: [], scans: [[token("/dev/hidraw0")]], count: 1)
    #expect(result.changes == [.arrived(token("/dev/hidraw0"))])
  }

  @Test func arrivalWaitsForPermissionsWithBackoff() async {
    // The node shows up only on the third scan after the event (udev was still working).
    let result = await watch(
      events: [.arrived(vendor: 0x1050, product: 0x0407)],
      scans: [[], [], [], [token("/dev/hidraw1")]], count: 1)
    #expect(result.changes == [.arrived(token("/dev/hidraw1"))])
    #expect(result.sleeps == [.milliseconds(250), .milliseconds(250), .milliseconds(500)])
  }

  @Test func aBurstOfEventsGivesOneChange() async {
    let burst = [USBEvent](repeating: .arrived(vendor: 0x1050, product: 0x0407), count: 5)
    let result = await watch(
      events: burst + [.left(vendor: 0x1050, product: 0x0407)],
      scans: [
        [], [token("/dev/hidraw2")], [token("/dev/hidraw2")], [token("/dev/hidraw2")],
        [token("/dev/hidraw2")], [token("/dev/hidraw2")], [],
      ],
      count: 2)
    #expect(result.changes == [.arrived(token("/dev/hidraw2")), .departed(token("/dev/hidraw2"))])
  }

  @Test func departureIsReportedOnce() async {
    let result = await watch(
      events: [.left(vendor: 0x1050, product: 0x0407), .tick],
      scans: [[token("/dev/hidraw0"), token("/dev/hidraw1")], [token("/dev/hidraw1")]], count: 3)
    #expect(
      result.changes == [
        .arrived(token("/dev/hidraw0")), .arrived(token("/dev/hidraw1")), .departed(token("/dev/hidraw0")),
      ])
    // A departure needs no back-off: one debounce per event.
    #expect(result.sleeps.allSatisfy { $0 == .milliseconds(250) })
  }
}
