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
    @inline(__always) func schedule(_ t: Int) -> UInt32 {
      if t < 16 { return w[t] }
      let x = w[(t &- 3) & 15] ^ w[(t &- 8) & 15] ^ w[(t &- 14) & 15] ^ w[t & 15]
      let v = SHA1State.rotl(x, 1)
      w[t & 15] = v
      return v
    }
    for t in 0..<20 {
      let f = (b & c) | (~b & d)
      let temp = SHA1State.rotl(a, 5) &+ f &+ e &+ 0x5A82_7999 &+ schedule(t)
      e = d; d = c; c = SHA1State.rotl(b, 30); b = a; a = temp
    }
    for t in 20..<40 {
      let f = b ^ c ^ d
      let temp = SHA1State.rotl(a, 5) &+ f &+ e &+ 0x6ED9_EBA1 &+ schedule(t)
      e = d; d = c; c = SHA1State.rotl(b, 30); b = a; a = temp
    }
    for t in 40..<60 {
      let f = (b & c) | (b & d) | (c & d)
      let temp = SHA1State.rotl(a, 5) &+ f &+ e &+ 0x8F1B_BCDC &+ schedule(t)
      e = d; d = c; c = SHA1State.rotl(b, 30); b = a; a = temp
    }
    for t in 60..<80 {
      let f = b ^ c ^ d
      let temp = SHA1State.rotl(a, 5) &+ f &+ e &+ 0xCA62_C1D6 &+ schedule(t)
      e = d; d = c; c = SHA1State.rotl(b, 30); b = a; a = temp
    }
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
