#if os(Linux)
  import CUHID

  /// Why a UHID event could not be made or read.
  public enum UHIDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An event from the kernel (or whoever holds the other end) that is too short or inconsistent.
    case malformed(String)
    /// A value that does not fit the event (a name too long, a descriptor too large).
    case doesNotFit(String)
    /// /dev/uhid could not be opened, read or written.
    case io(String)
    /// The UHID mode was asked for outside a virtual machine without --force.
    case notInVirtualMachine

    public var description: String {
      switch self {
      case .malformed(let detail): return "malformed UHID event: \(detail)"
      case .doesNotFit(let detail): return "UHID event: \(detail)"
      case .io(let detail): return detail
      case .notInVirtualMachine:
        return
          "refusing to create a UHID keyboard outside a virtual machine: its keystrokes would be real key presses on this machine (pass --force-outside-vm to do it anyway)"
      }
    }
  }

  /// Kinds of UHID report (`enum uhid_report_type`).
  public enum UHIDReportType: UInt8, Sendable {
    case feature = 0
    case output = 1
    case input = 2
  }

  /// One event the kernel sends to the device's owner, as the simulator needs it.
  public enum UHIDEvent: Equatable, Sendable {
    case start
    case stop
    case open
    case close
    /// An output report (the keyboard LEDs), without report ID.
    case output(type: UInt8, data: [UInt8])
    /// The host asks for a report; must be answered with ``UHIDMessage/getReportReply(id:error:data:)``.
    case getReport(id: UInt32, number: UInt8, type: UInt8)
    /// The host sends a report; must be answered with ``UHIDMessage/setReportReply(id:error:)``.
    case setReport(id: UInt32, number: UInt8, type: UInt8, data: [UInt8])
    /// An event type the simulator does not act on.
    case other(UInt32)

    /// Reads one event as read(2) returned it from /dev/uhid.
    public init(bytes: [UInt8]) throws(UHIDError) {
      var type: UInt32 = 0
      guard cuhid_type(bytes, bytes.count, &type) == 0 else {
        throw .malformed("\(bytes.count) bytes, shorter than an event type")
      }
      switch Int(type) {
      case CUHID_START: self = .start
      case CUHID_STOP: self = .stop
      case CUHID_OPEN: self = .open
      case CUHID_CLOSE: self = .close
      case CUHID_OUTPUT:
        var data: UnsafePointer<UInt8>?
        var size: UInt16 = 0
        var reportType: UInt8 = 0
        let report = bytes.withUnsafeBufferPointer { buffer -> [UInt8]? in
          guard cuhid_output(buffer.baseAddress, buffer.count, &data, &size, &reportType) == 0, let data
          else { return nil }
          return Array(UnsafeBufferPointer(start: data, count: Int(size)))
        }
        guard let report else { throw .malformed("OUTPUT of \(bytes.count) bytes") }
        self = .output(type: reportType, data: report)
      case CUHID_GET_REPORT:
        var id: UInt32 = 0
        var number: UInt8 = 0
        var reportType: UInt8 = 0
        guard cuhid_get_report(bytes, bytes.count, &id, &number, &reportType) == 0 else {
          throw .malformed("GET_REPORT of \(bytes.count) bytes")
        }
        self = .getReport(id: id, number: number, type: reportType)
      case CUHID_SET_REPORT:
        var id: UInt32 = 0
        var number: UInt8 = 0
        var reportType: UInt8 = 0
        var data: UnsafePointer<UInt8>?
        var size: UInt16 = 0
        let report = bytes.withUnsafeBufferPointer { buffer -> [UInt8]? in
          guard
            cuhid_set_report(buffer.baseAddress, buffer.count, &id, &number, &reportType, &data, &size) == 0,
            let data
          else { return nil }
          return Array(UnsafeBufferPointer(start: data, count: Int(size)))
        }
        guard let report else { throw .malformed("SET_REPORT of \(bytes.count) bytes") }
        self = .setReport(id: id, number: number, type: reportType, data: report)
      default: self = .other(type)
      }
    }
  }

  /// Events the device's owner writes to /dev/uhid, each the full size of `struct uhid_event`.
  public enum UHIDMessage {
    /// Bytes of one event.
    public static var eventSize: Int { cuhid_event_size() }

    /// Registers the device: the kernel then binds a HID driver and creates /dev/hidrawN.
    public static func create(
      name: String, physical: String, unique: String, descriptor: [UInt8], bus: UInt16, vendor: UInt16,
      product: UInt16, version: UInt16
    ) throws(UHIDError) -> [UInt8] {
      var event = [UInt8](repeating: 0, count: eventSize)
      let status = event.withUnsafeMutableBufferPointer {
        cuhid_create2(
          $0.baseAddress, name, physical, unique, descriptor, descriptor.count, bus, UInt32(vendor),
          UInt32(product), UInt32(version))
      }
      guard status == 0 else {
        throw .doesNotFit(
          "name up to 127 bytes, physical and unique up to 63, descriptor up to \(cuhid_descriptor_max())")
      }
      return event
    }

    /// Removes the device.
    public static func destroy() -> [UInt8] {
      var event = [UInt8](repeating: 0, count: eventSize)
      _ = event.withUnsafeMutableBufferPointer { cuhid_destroy($0.baseAddress) }
      return event
    }

    /// One input report (a keyboard report, no report ID).
    public static func input(_ data: [UInt8]) throws(UHIDError) -> [UInt8] {
      var event = [UInt8](repeating: 0, count: eventSize)
      let status = event.withUnsafeMutableBufferPointer { cuhid_input2($0.baseAddress, data, data.count) }
      guard status == 0 else { throw .doesNotFit("an input report of \(data.count) bytes") }
      return event
    }

    /// The answer to a GET_REPORT: `data` when `error` is 0, else an errno value for the host.
    public static func getReportReply(id: UInt32, error: UInt16, data: [UInt8]) throws(UHIDError) -> [UInt8] {
      var event = [UInt8](repeating: 0, count: eventSize)
      let status = event.withUnsafeMutableBufferPointer {
        cuhid_get_report_reply($0.baseAddress, id, error, data, data.count)
      }
      guard status == 0 else { throw .doesNotFit("a report of \(data.count) bytes") }
      return event
    }

    /// The answer to a SET_REPORT: 0, or an errno value for the host.
    public static func setReportReply(id: UInt32, error: UInt16) -> [UInt8] {
      var event = [UInt8](repeating: 0, count: eventSize)
      _ = event.withUnsafeMutableBufferPointer { cuhid_set_report_reply($0.baseAddress, id, error) }
      return event
    }
  }
#endif
