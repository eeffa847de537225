import Foundation
import OTPWire
import VirtualHID

/// Simulated tokens in other processes, through their virtual HID sockets: those named
/// explicitly, and every `*.sock` under `$XDG_RUNTIME_DIR/otptoken/`.
public struct SocketBackend: DeviceBackend {
  public let kind = DeviceKind.socket
  public let explicitPaths: [String]
  public let searchDirectory: String?

  public init(paths: [String] = [], searchDirectory: String? = SocketBackend.defaultDirectory) {
    explicitPaths = paths
    self.searchDirectory = searchDirectory
  }

  /// `$XDG_RUNTIME_DIR/otptoken`, where `otptoken sim serve` sockets are looked for.
  public static var defaultDirectory: String? {
    ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { $0 + "/otptoken" }
  }

  private var candidatePaths: [String] {
    var paths = explicitPaths
    if let directory = searchDirectory,
      let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
    {
      paths += names.filter { $0.hasSuffix(".sock") }.sorted().map { directory + "/" + $0 }
    }
    var seen = Set<String>()
    return paths.filter { seen.insert($0).inserted }
  }

  /// Asks every candidate socket for its INFO; an explicit path that does not answer is an error,
  /// a stale socket in the search folder is skipped.
  public func enumerate() throws(TransportError) -> [DeviceDescription] {
    var found: [DeviceDescription] = []
    for path in candidatePaths {
      do {
        let client = try VirtualHIDClient(path: path)
        defer { client.close() }
        found.append(Self.description(path: path, info: try client.info()))
      } catch {
        if explicitPaths.contains(path) { throw .notFound("\(path): \(error)") }
      }
    }
    return found.filter(\.isOTPInterface)
  }

  static func description(path: String, info: VirtualHIDDeviceInfo) -> DeviceDescription {
    DeviceDescription(
      kind: .socket, path: path, vendorID: info.vendorId, productID: info.productId, release: info.release,
      usagePage: info.usagePage, usage: info.usage, serialString: info.serial,
      manufacturer: info.manufacturer, product: info.product)
  }

  public func open(_ description: DeviceDescription) throws(TransportError) -> any HIDDevice {
    do {
      return SocketDevice(client: try VirtualHIDClient(path: description.path), description: description)
    } catch {
      throw .notFound("\(description.path): \(error)")
    }
  }
}

/// One connection to a simulated token's socket.
final class SocketDevice: HIDDevice {
  let client: VirtualHIDClient
  let description: DeviceDescription

  init(client: VirtualHIDClient, description: DeviceDescription) {
    self.client = client
    self.description = description
  }

  private func map(_ error: VirtualHIDError) -> TransportError {
    switch error {
    case .connectionClosed: return .disconnected("the simulated token at \(description.path) went away")
    case .io(let text): return .disconnected(text)
    default: return .io("simulated token at \(description.path): \(error)")
    }
  }

  func setFeatureReport(_ report: FeatureReport) throws(TransportError) {
    do { try client.setFeature(report.bytes) } catch { throw map(error) }
  }

  func getFeatureReport() throws(TransportError) -> FeatureReport {
    let bytes: [UInt8]
    do { bytes = try client.getFeature() } catch { throw map(error) }
    do { return try FeatureReport(bytes: bytes) } catch { throw .badReport("\(error)") }
  }

  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport? {
    let bytes: [UInt8]?
    do { bytes = try client.readInput(timeoutMilliseconds: Int32(clamping: timeoutMilliseconds)) } catch {
      throw map(error)
    }
    guard let bytes else { return nil }
    do { return try KeyboardReport(bytes: bytes) } catch { throw .badReport("\(error)") }
  }

  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError) {
    do { try client.output(bytes) } catch { throw map(error) }
  }

  func close() { client.close() }
}
