/// The SHA-1 compression function and HMAC-SHA1 with precomputed key pads.
///
/// HOTP over one key computes HMAC-SHA1 of an 8-byte counter again and again. The inner and outer
/// key pads are one 64-byte block each, so their compressed states (the midstates) are computed
/// once per key; each counter then costs exactly two compressions. swift-crypto does not expose
/// midstates, hence this small implementation (FIPS 180-4), checked against swift-crypto in tests.
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

/// HMAC-SHA1 keyed once, evaluated on 8-byte messages (HOTP counters) at two compressions each.
@usableFromInline
struct HMACSHA1Counter: Sendable, Hashable {
  @usableFromInline let inner: SHA1State
  @usableFromInline let outer: SHA1State

  /// `key` must be at most 64 bytes (longer keys are hashed by the caller, as HMAC says).
  init(key: [UInt8]) {
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
