import Foundation
import Hummingbird
import OneTimePassword
import QRCode
import Verifier
import VerifierService

/// The user's Security page: their factors, connecting and removing a phone app, recovery codes,
/// application passwords and the password. A user whom the policy obliges to enrol, past the
/// deadline, sees only the phone-app part until one is connected.
extension WebPages {
  func registerSecurity(on router: Router<ServiceRequestContext>) {
    router.get("/account") { request, context in
      await visit(request, context, needs: [.signedIn, .enrolOnly]) { visit in
        let done = request.uri.queryParameters["done"].map {
          "done_" + $0.replacingOccurrences(of: "-", with: "_")
        }
        return try await securityPage(visit, notice: done.flatMap { visit.texts.strings[$0] }, error: nil)
      }
    }
    router.post("/account/phone") { request, context in
      await visit(request, context, needs: [.signedIn, .enrolOnly]) { visit in
        let (accounts, user, issuer) = (accounts, visit.session!.userName, options.issuer)
        let uri = try await api.blocking { () throws(VerifierError) in
          try accounts.enrollTOTP(user: user, issuer: issuer)
        }
        let png = try QRCode(text: uri.string).png(scale: 6)
        return render(
          "phone", visit,
          [
            "qr": Data(png).base64EncodedString(), "qrSize": Self.pngWidth(png),
            "key": Self.grouped(uri.secret.base32),
          ])
      }
    }
    router.post("/account/phone/confirm") { request, context in
      await visit(request, context, needs: [.signedIn, .enrolOnly]) { visit in try await confirmPhone(visit) }
    }
    router.post("/account/phone/remove") { request, context in
      await visit(request, context, needs: [.signedIn]) { visit in
        guard let id = visit.form.text("id").flatMap({ Int64($0) }) else { return Self.redirect("/account") }
        let (accounts, user, source) = (accounts, visit.session!.userName, visit.source)
        do {
          try await api.blocking { () throws(VerifierError) in
            try accounts.removePhoneApp(user: user, id: id, source: source)
          }
        } catch VerifierError.notFound { return Self.redirect("/account") }
        return Self.redirect("/account?done=phone-removed")
      }
    }
    router.post("/account/recovery") { request, context in
      await visit(request, context, needs: [.signedIn]) { visit in
        let (accounts, user) = (accounts, visit.session!.userName)
        let codes = try await api.blocking { () throws(VerifierError) in
          try accounts.newRecoveryCodes(user: user)
        }
        let file = "otptoken recovery codes for \(user)\n\n" + codes.joined(separator: "\n") + "\n"
        return render("recovery", visit, ["codes": codes, "download": Data(file.utf8).base64EncodedString()])
      }
    }
    router.post("/account/app-passwords") { request, context in
      await visit(request, context, needs: [.signedIn]) { visit in
        let (accounts, user) = (accounts, visit.session!.userName)
        let name = visit.form.text("name") ?? ""
        let password: String
        do {
          password = try await api.blocking { () throws(VerifierError) in
            try accounts.addAppPassword(user: user, label: name)
          }
        } catch let error as VerifierError {
          switch error {
          case .invalidInput(let why), .conflict(let why):
            return try await securityPage(visit, notice: nil, error: why)
          default: throw error
          }
        }
        return render("app-password", visit, ["name": name, "password": Self.grouped(password)])
      }
    }
    router.post("/account/app-passwords/revoke") { request, context in
      await visit(request, context, needs: [.signedIn]) { visit in
        let (accounts, user, name) = (accounts, visit.session!.userName, visit.form["name"] ?? "")
        do {
          try await api.blocking { () throws(VerifierError) in
            try accounts.revokeAppPassword(user: user, label: name)
          }
        } catch VerifierError.notFound { return Self.redirect("/account") }
        return Self.redirect("/account?done=app-password-revoked")
      }
    }
    router.post("/account/password") { request, context in
      await visit(request, context, needs: [.signedIn]) { visit in try await changePassword(visit) }
    }
  }

  /// The Security page, with a notice (a change done, or the policy's deadline) or an error.
  func securityPage(_ visit: Visit, notice: String?, error: String?) async throws -> Response {
    let (accounts, user) = (accounts, visit.session!.userName)
    let (summary, due) = try await api.blocking { () throws(VerifierError) in
      (try accounts.factorSummary(user: user), try accounts.enrolmentDeadline(user: user))
    }
    let t = visit.texts
    let now = now
    func state(active: Bool, locked: Bool, throttledUntil: Int64?) -> String {
      if locked { return t["locked"] }
      if let until = throttledUntil, until > now { return t["throttled"] }
      return active ? t["active"] : t["unconfirmed"]
    }
    var values: [String: Any] = [
      "enrolOnly": visit.session!.stage == .enrolOnly,
      "hasFactors": !summary.tokens.isEmpty || summary.phoneApps.contains(where: \.active),
      "tokens": summary.tokens.map {
        [
          "serial": $0.serial,
          "state": state(active: $0.active, locked: $0.locked, throttledUntil: $0.throttledUntil),
        ]
      },
      "phoneApps": summary.phoneApps.map {
        [
          "id": String($0.id),
          "state": state(active: $0.active, locked: $0.locked, throttledUntil: $0.throttledUntil),
        ]
      },
      "recoveryLeft": summary.recoveryCodesLeft,
      "appPasswords": summary.appPasswords.map {
        [
          "name": $0.name, "created": Self.day($0.createdAt),
          "lastUsed": $0.lastUsedAt.map(Self.time) ?? t["never"],
        ]
      },
    ]
    switch due {
    case .some(let deadline?):
      values["notice"] =
        notice ?? t["notice_deadline"].replacingOccurrences(of: "{{deadline}}", with: Self.day(deadline))
    case .some(nil): values["notice"] = notice ?? t["notice_enrol"]
    case nil: if let notice { values["notice"] = notice }
    }
    if let error { values["error"] = error }
    return render("security", visit, values)
  }

  /// Confirms the phone app just connected; a user who could only enrol is now signed in, under a
  /// new session id.
  func confirmPhone(_ visit: Visit) async throws -> Response {
    let session = visit.session!
    let (accounts, code) = (accounts, visit.form.text("code") ?? "")
    let decision: Decision
    do {
      decision = try await api.blocking { () throws(VerifierError) in
        try accounts.confirmTOTP(user: session.userName, code: code)
      }
    } catch let error as VerifierError {
      switch error {
      case .invalidInput: return render("phone", visit, ["error": visit.texts["confirm_wrong"]])
      case .notFound: return Self.redirect("/account")
      default: throw error
      }
    }
    guard decision.isAccepted else { return render("phone", visit, ["error": visit.texts["confirm_wrong"]]) }
    guard session.stage == .enrolOnly else { return Self.redirect("/account?done=phone") }
    try await api.blocking { () throws(VerifierError) in try accounts.endSession(session) }
    let (_, cookie) = try await startSession(session.userName, .signedIn)
    return Self.redirect("/account?done=phone", cookies: [cookie])
  }

  /// Changes the password after checking the current one. Every session of the user ends (other
  /// browsers are signed out); this browser continues under a new session.
  func changePassword(_ visit: Visit) async throws -> Response {
    let (current, new) = (visit.form["current"] ?? "", visit.form["new"] ?? "")
    guard new == visit.form["repeat"] else {
      return try await securityPage(visit, notice: nil, error: visit.texts["password_mismatch"])
    }
    let changed: Bool
    do {
      changed = try await accounts.changePassword(
        user: visit.session!.userName, current: current, new: new, source: visit.source)
    } catch {
      guard case .invalidInput(let why) = error else { throw error }
      return try await securityPage(visit, notice: nil, error: why)
    }
    guard changed else {
      return try await securityPage(visit, notice: nil, error: visit.texts["password_wrong"])
    }
    let (_, cookie) = try await startSession(visit.session!.userName, .signedIn)
    return Self.redirect("/account?done=password", cookies: [cookie])
  }

  /// "ABCDEFGH..." as "ABCD EFGH ...", easier to type from the screen.
  static func grouped(_ text: String) -> String {
    var groups: [Substring] = []
    var rest = Substring(text)
    while !rest.isEmpty {
      groups.append(rest.prefix(4))
      rest = rest.dropFirst(4)
    }
    return groups.joined(separator: " ")
  }

  /// The width a PNG's header gives.
  static func pngWidth(_ png: [UInt8]) -> Int {
    guard png.count >= 24 else { return 0 }
    return png[16..<20].reduce(0) { $0 << 8 | Int($1) }
  }
}
