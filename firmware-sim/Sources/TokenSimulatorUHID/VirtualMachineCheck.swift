#if os(Linux)
  import Foundation

  /// Whether this machine is a virtual machine, where UHID keystrokes harm no one's desktop.
  public enum VirtualMachineCheck {
    /// Vendors of the firmware virtual machines present (/sys/class/dmi/id/sys_vendor).
    static let hypervisorVendors = [
      "QEMU", "KVM", "VMware", "innotek", "Xen", "Microsoft Corporation", "Amazon EC2",
    ]

    /// True when the CPU reports the `hypervisor` flag (set by every hypervisor on x86 and by
    /// QEMU's emulated CPUs) or the DMI vendor is a hypervisor's.
    public static func isVirtualMachine(cpuinfo: String, dmiVendor: String?) -> Bool {
      let flags = cpuinfo.split(separator: "\n").contains { line in
        line.hasPrefix("flags") && line.split(separator: " ").contains("hypervisor")
      }
      let vendor = dmiVendor?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
      return flags || hypervisorVendors.contains { !vendor.isEmpty && vendor.hasPrefix($0) }
    }

    /// The check on this machine.
    public static func current() -> Bool {
      isVirtualMachine(
        cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "",
        dmiVendor: try? String(contentsOfFile: "/sys/class/dmi/id/sys_vendor", encoding: .utf8))
    }
  }
#endif
