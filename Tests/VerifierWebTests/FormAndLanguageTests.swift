import BrowserInput
import Foundation
import Testing

@testable import VerifierWeb

@Suite struct FormTests {
  @Test func browsersFormsAreDecoded() throws {
    let form = try #require(Form(Array("user=Jos%C3%A9&password=a+b%2Bc%26d&empty=&flag&user2=x=y".utf8)))
    #expect(form["user"] == "José")
    #expect(form["password"] == "a b+c&d")
    #expect(form["empty"] == "" && form["flag"] == "" && form["user2"] == "x=y")
    #expect(form.text("empty") == nil && form.text("missing") == nil)
    #expect(Form(Array("a=1&a=2".utf8))?["a"] == "2")
    #expect(Form([UInt8]())?.fields.isEmpty == true)
  }

  @Test(arguments: ["a=%", "a=%4", "a=%zz", "%G0=1", "a=%FF", "a=%C3"])
  func aMalformedFormIsUnreadableAsAWhole(body: String) {
    #expect(Form(Array(body.utf8)) == nil)
  }
}

@Suite struct LanguageTests {
  @Test(arguments: [
    ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
    ("en-US,en;q=0.9,ru;q=0.8", "en"),
    ("en;q=0.5, ru;q=0.9", "ru"),
    ("de-DE, fr;q=0.9", "en"),
    ("ru;q=0, en;q=0.1", "en"),
    ("RU", "ru"),
    (";;;,,,q=", "en"),
    ("ru;q=abc", "en"),
  ])
  func acceptLanguagePicksTheBestSpokenOne(header: String, expected: String) {
    #expect(Texts.negotiate(header) == expected)
  }

  @Test func noHeaderOrAHugeOneIsEnglish() {
    #expect(Texts.negotiate(nil) == "en")
    #expect(Texts.negotiate(String(repeating: "ru,", count: 1000)) == "en")
  }

  @Test func everyLanguageHasEveryText() throws {
    let all = try Texts.load()
    let english = try #require(all["en"]).strings
    for (code, texts) in all {
      #expect(Set(texts.strings.keys) == Set(english.keys), "\(code)")
      #expect(texts.strings.values.allSatisfy { !$0.isEmpty }, "\(code)")
    }
    #expect(all["ru"]?["signin_title"] == "Вход")
  }
}
