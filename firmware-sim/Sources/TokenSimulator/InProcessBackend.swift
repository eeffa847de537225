import OTPWire
import TokenFirmware
import TokenTransport

/// Simulated tokens in this process, reached through the same device protocol as real ones.
public struct InProcessBackend: DeviceBackend {
  public let kind = DeviceKind.inProcess
  public let tokens: [SimulatedToken]

  public init(tokens: [SimulatedToken]) { self.tokens = tokens }

  public func enumerate() throws(TransportError) -> [DeviceDescription] {
    tokens.enumerated().map { Self.description(of: $1, index: $0) }
  }

  static func description(of token: SimulatedToken, index: Int) -> DeviceDescription {
    DeviceDescription(
      kind: .inProcess, path: "in-process:\(index)", vendorID: token.identity.vendorID,
      productID: token.identity.productID, release: token.identity.releaseBCD,
      usagePage: OTPInterface.usagePage, usage: OTPInterface.usage, serialString: String(token.serial),
      manufacturer: token.identity.manufacturer, product: token.identity.product)
  }

  public func open(_ description: DeviceDescription) throws(TransportError) -> any HIDDevice {
    guard description.path.hasPrefix("in-process:"), let index = Int(description.path.dropFirst(11)),
      tokens.indices.contains(index)
    else { throw .notFound(description.path) }
    return InProcessDevice(handle: tokens[index].openHandle(), description: description)
  }

  /// Opens a token directly.
  public static func open(_ token: SimulatedToken) -> any HIDDevice {
    InProcessDevice(handle: token.openHandle(), description: description(of: token, index: 0))
  }
}

final class InProcessDevice: HIDDevice {
  let handle: SimulatedTokenHandle
  let description: DeviceDescription
  private var isOpen = true

  init(handle: SimulatedTokenHandle, description: DeviceDescription) {
    self.handle = handle
    self.description = description
  }

  private func ensureOpen() throws(TransportError) {
    guard isOpen else { throw .disconnected("the device was closed") }
  }

  func setFeatureReport(_ report: FeatureReport) throws(TransportError) {
    try ensureOpen()
    handle.setFeatureReport(report)
  }

  func getFeatureReport() throws(TransportError) -> FeatureReport {
    try ensureOpen()
    return handle.getFeatureReport()
  }

  func readInputReport(timeoutMilliseconds: Int) throws(TransportError) -> KeyboardReport? {
    try ensureOpen()
    return handle.readInput(timeoutMilliseconds: timeoutMilliseconds)
  }

  func writeOutputReport(_ bytes: [UInt8]) throws(TransportError) { try ensureOpen() }

  func close() {
    if isOpen { handle.close() }
    isOpen = false
  }
}
