import CLibUSB
import Foundation
import Synchronization
import TokenTransport

/// USB arrivals and departures from libusb-1.0's hot-plug API. The only module that calls libusb.
public enum LibUSBHotplug {
  /// Why hot-plug events are not available here (then poll instead).
  public struct Unavailable: Error, CustomStringConvertible {
    public let description: String
  }

  /// The libusb version, e.g. "1.0.26", or nil if libusb cannot start here.
  public static var libraryVersion: String? {
    guard let version = libusb_get_version() else { return nil }
    return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
  }

  private final class Box: @unchecked Sendable {
    let continuation: AsyncStream<USBEvent>.Continuation
    let running = Atomic<Bool>(true)
    init(_ continuation: AsyncStream<USBEvent>.Continuation) { self.continuation = continuation }
  }

  /// Every USB device arriving or leaving, from a thread that runs libusb's event loop until the
  /// stream is dropped. Throws where libusb cannot start or has no hot-plug support.
  public static func events() throws(Unavailable) -> AsyncStream<USBEvent> {
    var context: OpaquePointer?
    let status = libusb_init(&context)
    guard status == 0, let context else {
      throw Unavailable(description: "libusb could not start: \(String(cString: libusb_error_name(status)))")
    }
    guard libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 else {
      libusb_exit(context)
      throw Unavailable(description: "libusb has no hot-plug support on this system")
    }
    let (stream, continuation) = AsyncStream<USBEvent>.makeStream()
    let box = Box(continuation)
    let userData = Unmanaged.passRetained(box).toOpaque()
    let callback: libusb_hotplug_callback_fn = { _, device, event, userData in
      guard let userData, let device else { return 0 }
      let box = Unmanaged<Box>.fromOpaque(userData).takeUnretainedValue()
      var descriptor = libusb_device_descriptor()
      guard libusb_get_device_descriptor(device, &descriptor) == 0 else { return 0 }
      if event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED {
        box.continuation.yield(.arrived(vendor: descriptor.idVendor, product: descriptor.idProduct))
      } else {
        box.continuation.yield(.left(vendor: descriptor.idVendor, product: descriptor.idProduct))
      }
      return 0
    }
    var handle: libusb_hotplug_callback_handle = 0
    let events = Int32(
      LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
    let registered = libusb_hotplug_register_callback(
      context, events, 0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
      callback, userData, &handle)
    guard registered == 0 else {
      Unmanaged<Box>.fromOpaque(userData).release()
      libusb_exit(context)
      throw Unavailable(description: "libusb refused the hot-plug callback")
    }
    let contextAddress = UInt(bitPattern: context)
    let registeredHandle = handle
    let thread = Thread {
      let context = OpaquePointer(bitPattern: contextAddress)!
      var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
      while box.running.load(ordering: .relaxed) {
        _ = libusb_handle_events_timeout_completed(context, &timeout, nil)
      }
      libusb_hotplug_deregister_callback(context, registeredHandle)
      libusb_exit(context)
      Unmanaged.passUnretained(box).release()  // balances passRetained above
    }
    continuation.onTermination = { _ in box.running.store(false, ordering: .relaxed) }
    thread.start()
    return stream
  }
}
