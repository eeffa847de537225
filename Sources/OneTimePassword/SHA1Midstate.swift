import CLibCrypto
import Foundation

/// The SHA-1 compression function and HMAC-SHA1 with precomputed key pads.
///
/// HOTP over one key computes HMAC-SHA1 of an 8-byte counter again and again. The inner and outer
/// key pads are one 64-byte block each, so their compressed states (the midstates) are computed
/// once per key; each counter then costs exactly two compressions. swift-crypto does not expose
/// midstates. The compressions run on OpenSSL's block function (``SHA1Engine/openSSL``), which
/// uses the CPU's SHA instructions where it has them, or on the portable implementation below
/// (FIPS 180-4); both are checked against swift-crypto and RFC 4226 in tests.
@usableFromInline
struct SHA1State: Sendable, Hashable {
  @usableFromInline var h0: UInt32 = 0x6745_2301
  @usableFromInline var h1: UInt32 = 0xEFCD_AB89
  @usableFromInline var h2: UInt32 = 0x98BA_DCFE
  @usableFromInline var h3: UInt32 = 0x1032_5476
  @usableFromInline var h4: UInt32 = 0xC3D2_E1F0

  @usableFromInline init() {}

  @inline(__always) @usableFromInline
  static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 &- n)) }

  /// Compresses one 64-byte block given as 16 big-endian words; `w` is used as scratch.
  @inline(__always) @usableFromInline
  mutating func compress(_ w: UnsafeMutablePointer<UInt32>) {
    var a = h0
    var b = h1
    var c = h2
    var d = h3
    var e = h4
    // Rounds 0-15 read the block; later rounds extend the schedule in place (a 16-word ring).
    // Five rounds at a time, rotating the roles of a...e instead of moving values.
    @inline(__always) func word(_ t: Int) -> UInt32 {
      if t < 16 { return w[t] }
      let x = w[(t &+ 13) & 15] ^ w[(t &+ 8) & 15] ^ w[(t &+ 2) & 15] ^ w[t & 15]
      let v = SHA1State.rotl(x, 1)
      w[t & 15] = v
      return v
    }
    @inline(__always) func ch(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { z ^ (x & (y ^ z)) }
    @inline(__always) func parity(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { x ^ y ^ z }
    @inline(__always) func maj(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 { (x & y) | (z & (x | y)) }
    @inline(__always) func five(
      _ t: Int, _ k: UInt32, _ f: (UInt32, UInt32, UInt32) -> UInt32
    ) {
      e = e &+ SHA1State.rotl(a, 5) &+ f(b, c, d) &+ k &+ word(t)
      b = SHA1State.rotl(b, 30)
      d = d &+ SHA1State.rotl(e, 5) &+ f(a, b, c) &+ k &+ word(t &+ 1)
      a = SHA1State.rotl(a, 30)
      c = c &+ SHA1State.rotl(d, 5) &+ f(e, a, b) &+ k &+ word(t &+ 2)
      e = SHA1State.rotl(e, 30)
      b = b &+ SHA1State.rotl(c, 5) &+ f(d, e, a) &+ k &+ word(t &+ 3)
      d = SHA1State.rotl(d, 30)
      a = a &+ SHA1State.rotl(b, 5) &+ f(c, d, e) &+ k &+ word(t &+ 4)
      c = SHA1State.rotl(c, 30)
    }
    five(0, 0x5A82_7999, ch)
    five(5, 0x5A82_7999, ch)
    five(10, 0x5A82_7999, ch)
    five(15, 0x5A82_7999, ch)
    five(20, 0x6ED9_EBA1, parity)
    five(25, 0x6ED9_EBA1, parity)
    five(30, 0x6ED9_EBA1, parity)
    five(35, 0x6ED9_EBA1, parity)
    five(40, 0x8F1B_BCDC, maj)
    five(45, 0x8F1B_BCDC, maj)
    five(50, 0x8F1B_BCDC, maj)
    five(55, 0x8F1B_BCDC, maj)
    five(60, 0xCA62_C1D6, parity)
    five(65, 0xCA62_C1D6, parity)
    five(70, 0xCA62_C1D6, parity)
    five(75, 0xCA62_C1D6, parity)
    h0 = h0 &+ a
    h1 = h1 &+ b
    h2 = h2 &+ c
    h3 = h3 &+ d
    h4 = h4 &+ e
  }
}

/// Which block function computes SHA-1 compressions for HOTP.
public enum SHA1Engine: String, Sendable, CaseIterable {
  /// OpenSSL's libcrypto (`SHA1_Transform`): the CPU's SHA extensions where present, else its
  /// best vector code.
  case openSSL = "openssl"
  /// The Swift implementation in this module.
  case portable

  /// The engine this process uses, chosen once at run time: OpenSSL's, unless
  /// `OTPTOKEN_SHA1=portable` asks otherwise or its block function fails a known answer (FIPS
  /// 180-4's "abc"), in which case the portable one.
  public static let current: SHA1Engine = {
    if let asked = getenv("OTPTOKEN_SHA1").map({ String(cString: $0) }), asked == "portable" {
      return .portable
    }
    return openSSLAnswersCorrectly() ? .openSSL : .portable
  }()

  /// The reference for benchmarks: HOTP candidates per second that OpenSSL's block function alone
  /// reaches on this thread, with the key pads precomputed (two compressions per candidate and
  /// nothing else: no truncation, no comparison), measured for about `seconds`.
  public static func openSSLReferenceRate(seconds: Double) -> Double {
    let key = HMACSHA1Counter(key: [], engine: .openSSL)
    var sink: UInt32 = 0
    var counter: UInt64 = 0
    let clock = ContinuousClock()
    let start = clock.now
    var elapsed = 0.0
    withScratch { context, block in
      while elapsed < seconds {
        for _ in 0..<100_000 {
          sink &+= hmac(counter: counter, inner: key.inner, outer: key.outer, context, block).h4
          counter &+= 1
        }
        let d = (clock.now - start).components
        elapsed = Double(d.seconds) + Double(d.attoseconds) / 1e18
      }
    }
    if sink == 0x1234_5678 { print("") }  // keeps the loop from being optimised away
    return Double(counter) / elapsed
  }

  /// HMAC-SHA1 of an 8-byte counter on OpenSSL's block function, from the key's two midstates.
  /// `context` and `block` are scratch: the block function reads and writes only the context's
  /// five chaining words, so nothing else of it is ever initialised.
  @inline(__always)
  static func hmac(
    counter: UInt64, inner: SHA1State, outer: SHA1State, _ context: UnsafeMutablePointer<SHA_CTX>,
    _ block: UnsafeMutableRawPointer
  ) -> SHA1State {
    let bytes = block.assumingMemoryBound(to: UInt8.self)
    // The counter, padded: 72 bytes hashed in all. Bytes 24 to 59 are zero from ``withScratch``
    // on, and only the first 24 and the last 4 are ever written.
    block.storeBytes(of: counter.bigEndian, toByteOffset: 0, as: UInt64.self)
    block.storeBytes(of: UInt32(0x8000_0000).bigEndian, toByteOffset: 8, as: UInt32.self)
    block.storeBytes(of: UInt64(0), toByteOffset: 12, as: UInt64.self)
    block.storeBytes(of: UInt32(0), toByteOffset: 20, as: UInt32.self)
    block.storeBytes(of: UInt32((64 + 8) * 8).bigEndian, toByteOffset: 60, as: UInt32.self)
    (context.pointee.h0, context.pointee.h1, context.pointee.h2) = (inner.h0, inner.h1, inner.h2)
    (context.pointee.h3, context.pointee.h4) = (inner.h3, inner.h4)
    SHA1_Transform(context, bytes)
    // The inner hash, padded: 84 bytes hashed in all.
    block.storeBytes(of: context.pointee.h0.bigEndian, toByteOffset: 0, as: UInt32.self)
    block.storeBytes(of: context.pointee.h1.bigEndian, toByteOffset: 4, as: UInt32.self)
    block.storeBytes(of: context.pointee.h2.bigEndian, toByteOffset: 8, as: UInt32.self)
    block.storeBytes(of: context.pointee.h3.bigEndian, toByteOffset: 12, as: UInt32.self)
    block.storeBytes(of: context.pointee.h4.bigEndian, toByteOffset: 16, as: UInt32.self)
    block.storeBytes(of: UInt32(0x8000_0000).bigEndian, toByteOffset: 20, as: UInt32.self)
    block.storeBytes(of: UInt32((64 + 20) * 8).bigEndian, toByteOffset: 60, as: UInt32.self)
    (context.pointee.h0, context.pointee.h1, context.pointee.h2) = (outer.h0, outer.h1, outer.h2)
    (context.pointee.h3, context.pointee.h4) = (outer.h3, outer.h4)
    SHA1_Transform(context, bytes)
    var result = SHA1State()
    (result.h0, result.h1, result.h2) = (context.pointee.h0, context.pointee.h1, context.pointee.h2)
    (result.h3, result.h4) = (context.pointee.h3, context.pointee.h4)
    return result
  }

  /// The dynamically truncated HMAC of `counter` (RFC 4226), as ``hmac(counter:inner:outer:_:_:)``
  /// computes it. The two words holding the four bytes at the offset are read by index from the
  /// context's chaining words (h0 to h4, consecutive in `SHA_CTX`), so the offset is no branch.
  @inline(__always)
  static func truncatedHMAC(
    counter: UInt64, inner: SHA1State, outer: SHA1State, _ context: UnsafeMutablePointer<SHA_CTX>,
    _ block: UnsafeMutableRawPointer
  ) -> UInt32 {
    let h4 = hmac(counter: counter, inner: inner, outer: outer, context, block).h4
    let offset = Int(h4 & 0x0F)
    let words = UnsafeRawPointer(context)
    return SHA1State.truncation(
      words.load(fromByteOffset: 4 * (offset >> 2), as: UInt32.self),
      words.load(fromByteOffset: 4 * (offset >> 2) + 4, as: UInt32.self), offset: offset)
  }

  /// Runs `body` with scratch for ``hmac(counter:inner:outer:_:_:)``, on the stack.
  @inline(__always)
  static func withScratch<T>(_ body: (UnsafeMutablePointer<SHA_CTX>, UnsafeMutableRawPointer) -> T) -> T {
    withUnsafeTemporaryAllocation(of: SHA_CTX.self, capacity: 1) { context in
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 8) { block in
        block.initialize(repeating: 0)
        return body(context.baseAddress!, UnsafeMutableRawPointer(block.baseAddress!))
      }
    }
  }

  static func openSSLAnswersCorrectly() -> Bool {
    var block = [UInt8](repeating: 0, count: 64)
    block[0] = 0x61
    block[1] = 0x62
    block[2] = 0x63
    block[3] = 0x80
    block[63] = 24
    var context = SHA_CTX()
    guard SHA1_Init(&context) == 1 else { return false }
    SHA1_Transform(&context, block)
    return [context.h0, context.h1, context.h2, context.h3, context.h4]
      == [0xA999_3E36, 0x4706_816A, 0xBA3E_2571, 0x7850_C26C, 0x9CD0_D89D]
  }
}

extension SHA1State {
  /// RFC 4226's dynamic truncation of a MAC held as five big-endian words: 31 bits from the
  /// offset the last nibble gives.
  @inlinable
  var truncated: UInt32 {
    let offset = Int(h4 & 0x0F)
    // The offset is at most 15, so the four bytes lie within words (offset/4, offset/4 + 1).
    let high: UInt32
    let low: UInt32
    switch offset >> 2 {
    case 0: (high, low) = (h0, h1)
    case 1: (high, low) = (h1, h2)
    case 2: (high, low) = (h2, h3)
    default: (high, low) = (h3, h4)
    }
    return Self.truncation(high, low, offset: offset)
  }

  /// The 31 bits at byte `offset` of the MAC, from the two words that hold them.
  @inlinable @inline(__always)
  static func truncation(_ high: UInt32, _ low: UInt32, offset: Int) -> UInt32 {
    let shifted = (UInt64(high) << 32 | UInt64(low)) >> UInt64(32 - 8 * (offset & 3))
    return UInt32(truncatingIfNeeded: shifted) & 0x7FFF_FFFF
  }
}

/// HMAC-SHA1 keyed once, evaluated on 8-byte messages (HOTP counters) at two compressions each.
@usableFromInline
struct HMACSHA1Counter: Sendable, Hashable {
  @usableFromInline let inner: SHA1State
  @usableFromInline let outer: SHA1State
  @usableFromInline let accelerated: Bool

  /// `key` must be at most 64 bytes (longer keys are hashed by the caller, as HMAC says).
  init(key: [UInt8], engine: SHA1Engine = .current) {
    accelerated = engine == .openSSL
    precondition(key.count <= 64)
    var block = key + [UInt8](repeating: 0, count: 64 - key.count)
    func padState(_ pad: UInt8) -> SHA1State {
      var state = SHA1State()
      withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { w in
        for i in 0..<16 {
          w[i] =
            UInt32(block[4 * i] ^ pad) << 24 | UInt32(block[4 * i + 1] ^ pad) << 16
            | UInt32(block[4 * i + 2] ^ pad) << 8 | UInt32(block[4 * i + 3] ^ pad)
        }
        state.compress(w.baseAddress!)
      }
      return state
    }
    inner = padState(0x36)
    outer = padState(0x5C)
    for i in block.indices { block[i] = 0 }
  }

  /// The 20-byte MAC of the counter as five big-endian words.
  @inline(__always) @usableFromInline
  func mac(counter: UInt64) -> SHA1State {
    accelerated ? macOnOpenSSL(counter: counter) : macPortable(counter: counter)
  }

  /// Both compressions through OpenSSL's block function, which reads and updates only the five
  /// chaining words of its context.
  @usableFromInline
  func macOnOpenSSL(counter: UInt64) -> SHA1State {
    SHA1Engine.withScratch { SHA1Engine.hmac(counter: counter, inner: inner, outer: outer, $0, $1) }
  }

  /// Calls `body` with each counter from `start` and its dynamically truncated MAC, in order,
  /// with one scratch area for the whole run.
  @inline(__always)
  func forEachTruncated(from start: UInt64, count: Int, _ body: (UInt64, UInt32) -> Void) {
    var counter = start
    if accelerated {
      SHA1Engine.withScratch { context, block in
        for _ in 0..<count {
          body(
            counter, SHA1Engine.truncatedHMAC(counter: counter, inner: inner, outer: outer, context, block))
          counter &+= 1
        }
      }
    } else {
      for _ in 0..<count {
        body(counter, macPortable(counter: counter).truncated)
        counter &+= 1
      }
    }
  }

  @inline(__always) @usableFromInline
  func macPortable(counter: UInt64) -> SHA1State {
    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { buffer in
      let w = buffer.baseAddress!
      var state = inner
      w[0] = UInt32(truncatingIfNeeded: counter >> 32)
      w[1] = UInt32(truncatingIfNeeded: counter)
      w[2] = 0x8000_0000
      for i in 3..<15 { w[i] = 0 }
      w[15] = (64 + 8) * 8
      state.compress(w)
      w[0] = state.h0
      w[1] = state.h1
      w[2] = state.h2
      w[3] = state.h3
      w[4] = state.h4
      w[5] = 0x8000_0000
      for i in 6..<15 { w[i] = 0 }
      w[15] = (64 + 20) * 8
      var result = outer
      result.compress(w)
      return result
    }
  }
}
