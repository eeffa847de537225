import TokenTransport

/// Why a token operation failed, worded so a person knows what to do next.
public enum DriverError: Error, Equatable, Sendable, CustomStringConvertible {
  case noToken
  case unreachable(String)
  case severalTokens([DeviceDescription])
  case noMatchingToken(String)
  case permissionDenied(path: String)
  case busy(path: String)
  case touchTimeout(seconds: Int)
  case badCRC(operation: String)
  case incompleteResponse(operation: String, detail: String)
  case refused(operation: String)
  case disconnected(operation: String)
  case tokenBusy(operation: String)
  case noPress(seconds: Int)
  case unreadablePress(String)
  case transport(TransportError)
  case invalidArgument(String)

  /// The exit status class: environment problems vs. refusals vs. bad input.
  public var isEnvironmental: Bool {
    switch self {
    case .refused, .invalidArgument, .unreadablePress: return false
    default: return true
    }
  }

  public var description: String {
    switch self {
    case .noToken:
      return
        "no token found: plug one in, or start a simulated one with `otptoken sim serve` and pass --socket"
    case .unreachable(let detail):
      return
        "the token did not answer (\(detail)): check that it is plugged in, or that its simulator runs, and try again"
    case .severalTokens(let devices):
      let list = devices.map {
        "\($0.kind.rawValue) \($0.path) (\($0.vidPid), serial \($0.serialString ?? "?"))"
      }
      return
        "\(devices.count) tokens found: \(list.joined(separator: "; ")); pick one with --serial N, --device PATH or --socket PATH"
    case .noMatchingToken(let what):
      return "no token matches \(what): `otptoken devices` lists the tokens present"
    case .permissionDenied(let path):
      return
        "permission denied on \(path): install the udev rules (sudo cp udev/69-otptoken.rules /etc/udev/rules.d/; sudo udevadm control --reload; sudo udevadm trigger), unplug and replug the token; `otptoken doctor` checks the setup"
    case .busy(let path):
      return "\(path) is in use by another program: close it (a browser or ykman?) and try again"
    case .touchTimeout(let seconds):
      return "timed out after \(seconds) s waiting for a touch: touch the token's button when asked"
    case .badCRC(let operation):
      return
        "the token's answer to \(operation) failed its CRC check: unplug and replug the token, then try again"
    case .incompleteResponse(let operation, let detail):
      return
        "the token's answer to \(operation) was incomplete (\(detail)): unplug and replug the token, then try again"
    case .refused(let operation):
      return
        "the token refused \(operation): if the slot is protected, pass its access code (--access-code); otherwise check the settings"
    case .disconnected(let operation):
      return
        "the token was unplugged during \(operation): nothing is known to be written; plug it in and run the command again"
    case .tokenBusy(let operation):
      return "the token stayed busy during \(operation): unplug and replug it, then try again"
    case .noPress(let seconds):
      return "no button press within \(seconds) s: press the token's button (slot 2 is a long press, 3-5 s)"
    case .unreadablePress(let why): return "the token typed something that is not a one-time code: \(why)"
    case .transport(let error): return error.description
    case .invalidArgument(let why): return why
    }
  }
}
