/// The HID identity of the OTP interface.
public enum OTPInterface {
  /// Yubico's USB vendor ID.
  public static let yubicoVendorID: UInt16 = 0x1050
  /// Product IDs whose OTP (keyboard) interface speaks this protocol, as ykpers lists them.
  public static let otpProductIDs: [UInt16] = [
    0x0010, 0x0110, 0x0111, 0x0114, 0x0116, 0x0401, 0x0403, 0x0405, 0x0407, 0x0410,
  ]
  /// YubiKey 5 OTP+FIDO+CCID, the factory default, which the simulator presents by default.
  public static let yubiKey5ProductID: UInt16 = 0x0407
  /// Usage page and usage of the OTP interface's top-level collection (Generic Desktop, Keyboard).
  public static let usagePage: UInt16 = 0x0001
  public static let usage: UInt16 = 0x0006

  /// The report descriptor: a standard boot keyboard (modifiers, reserved byte, 5 LED outputs,
  /// six-key array up to the keypad keys) plus one 8-byte feature report, no report IDs, as a
  /// known working emulation does it (the exact bytes of a real YubiKey are not public).
  public static let reportDescriptor: [UInt8] = [
    0x05, 0x01, 0x09, 0x06, 0xA1, 0x01,  // Generic Desktop, Keyboard, Collection (Application)
    0x05, 0x07, 0x19, 0xE0, 0x29, 0xE7, 0x15, 0x00, 0x25, 0x01,  // modifier keys 0xE0-0xE7
    0x75, 0x01, 0x95, 0x08, 0x81, 0x02,  // 8 x 1 bit, Input (Data, Var, Abs)
    0x95, 0x01, 0x75, 0x08, 0x81, 0x01,  // reserved byte, Input (Const)
    0x95, 0x05, 0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02,  // 5 LEDs, Output
    0x95, 0x01, 0x75, 0x03, 0x91, 0x01,  // LED padding, Output (Const)
    0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0x65,  // 6 x 8 bit, keys 0-101
    0x05, 0x07, 0x19, 0x00, 0x29, 0x65, 0x81, 0x00,  // Input (Data, Array)
    0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x08, 0xB1, 0x02,  // 8-byte Feature
    0xC0,  // End Collection
  ]
}
