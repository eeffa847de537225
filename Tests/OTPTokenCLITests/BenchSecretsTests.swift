import OneTimePassword
import Testing
import Verifier
@testable import OTPTokenDevTools

/// The bench tells a valid code refused by design (its value is one of the token's last used
/// codes) from a refusal that is a fault.
@Suite struct BenchSecretsTests {
  @Test func aCodeRecursOnlyWhereAnEarlierCodeInTheLookBackHasItsValue() throws {
    let secrets = BenchCommand.Secrets(count: 64, seed: 0x6F74_7074_6F6B_656E)
    let lookback = UInt64(VerifierSettings().replayLookback)
    // The first counter, over the tokens in turn, whose code equals one of the `lookback` before
    // it: about one in 50,000 codes, so a few thousand counters of 64 tokens hold one.
    var found: (index: Int, counter: UInt64)?
    search: for index in 0..<secrets.count {
      let generator = try HOTPGenerator(secret: OTPSecret(bytes: secrets.secret(index)))
      var recent: [OTPCode] = []
      for counter in UInt64(0)..<4_000 {
        let code = generator.code(counter: counter)
        if recent.suffix(Int(lookback)).contains(code) {
          found = (index, counter)
          break search
        }
        recent.append(code)
      }
    }
    let (index, counter) = try #require(found)
    #expect(try secrets.recurs(index, counter: counter))
    // Around it, the helper agrees with the codes computed here.
    let generator = try HOTPGenerator(secret: OTPSecret(bytes: secrets.secret(index)))
    for nearby in counter - 5...counter + 5 {
      let earlier = (nearby - min(nearby, lookback)..<nearby).map { generator.code(counter: $0) }
      #expect(try secrets.recurs(index, counter: nearby) == earlier.contains(generator.code(counter: nearby)))
    }
    #expect(try !secrets.recurs(index, counter: 0))
  }
}
