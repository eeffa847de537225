import BrowserInput
import Foundation
import Hummingbird
import Verifier
import VerifierService

/// The sign-in of the seed documents: the password, then a page whose one field takes the code a
/// phone app shows or a USB token types (its Enter submits the form), or a recovery code.
extension WebPages {
  func registerSignIn(on router: Router<ServiceRequestContext>) {
    router.get("/signin") { request, context in
      await visit(request, context) { visit in
        if let stage = visit.session?.stage, stage == .signedIn || stage == .enrolOnly {
          return Self.redirect("/account")
        }
        return signInForm(&visit, user: "", error: nil)
      }
    }
    router.post("/signin") { request, context in
      await visit(request, context) { visit in try await signIn(&visit) }
    }
    router.get("/signin/code") { request, context in
      await visit(request, context, needs: [.code]) { visit in
        codeForm(visit, recovery: request.uri.queryParameters["recovery"] == "1", error: nil)
      }
    }
    router.post("/signin/code") { request, context in
      await visit(request, context, needs: [.code]) { visit in try await codeStep(&visit) }
    }
    router.post("/signout") { request, context in
      await visit(request, context, needs: [.code, .signedIn, .enrolOnly]) { visit in
        let (accounts, session) = (accounts, visit.session!)
        try await api.blocking { () throws(VerifierError) in try accounts.endSession(session) }
        return Self.redirect("/signin", cookies: [clearedCookie(Self.sessionCookie)])
      }
    }
  }

  /// The sign-in form with a fresh double-submitted CSRF token (the page has no session yet).
  func signInForm(_ visit: inout Visit, user: String, error: String?) -> Response {
    let token = BrowserSession.randomToken()
    visit.cookies.append(cookie(Self.preSignInCookie, token, path: "/signin", maxAge: 3600))
    var values: [String: Any] = ["csrf": token, "user": user]
    if let error { values["error"] = error }
    return render("signin", visit, values)
  }

  func codeForm(_ visit: Visit, recovery: Bool, error: String?) -> Response {
    let remember = visit.request.uri.queryParameters["remember"] == "1" || visit.form["remember"] == "1"
    var values: [String: Any] = [
      "csrf": visit.session?.csrf ?? "", "recovery": recovery, "remember": remember,
    ]
    if let error { values["error"] = error }
    return render("code", visit, values)
  }

  /// The first step. An application password never signs a browser in: it stands for a client
  /// that cannot ask for a code, and would skip the second step here.
  func signIn(_ visit: inout Visit) async throws -> Response {
    let user = visit.form.text("user") ?? ""
    let password = visit.form["password"] ?? ""
    let remember = visit.form["remember"] == "1"
    let refused = { (visit: inout Visit) in
      signInForm(&visit, user: user, error: visit.texts["signin_wrong"])
    }
    guard !user.isEmpty, !password.isEmpty else { return refused(&visit) }
    let outcome: LoginOutcome
    do {
      outcome = try await accounts.login(user: user, password: password, code: nil, source: visit.source)
    } catch {
      // A name no user could have is answered like a wrong password.
      guard case .invalidInput = error else { throw error }
      return refused(&visit)
    }
    if let old = visit.session {
      let accounts = accounts
      try await api.blocking { () throws(VerifierError) in try accounts.endSession(old) }
    }
    let cleared = clearedCookie(Self.preSignInCookie, path: "/signin")
    switch outcome {
    case .allowed(let via) where via.hasPrefix("app-password"):
      return refused(&visit)
    case .allowed, .allowedUntilDeadline:
      let (_, cookie) = try await startSession(user, .signedIn, remember: remember)
      return Self.redirect("/account", cookies: [cookie, cleared])
    case .enrollmentRequired:
      let (_, cookie) = try await startSession(user, .enrolOnly)
      return Self.redirect("/account", cookies: [cookie, cleared])
    case .codeRequired:
      let (_, cookie) = try await startSession(user, .code)
      // "Remember me" rides along to the code step, where the real session starts.
      return Self.redirect(remember ? "/signin/code?remember=1" : "/signin/code", cookies: [cookie, cleared])
    case .refused:
      return refused(&visit)
    }
  }

  /// The second step: a one-time code or a recovery code, decided by the verifier like any other.
  /// Success starts a new session under a new id; the half-signed-in one ends.
  func codeStep(_ visit: inout Visit) async throws -> Response {
    let session = visit.session!
    let recovery = visit.form["kind"] == "recovery"
    guard let code = visit.form.text("code") else {
      return codeForm(visit, recovery: recovery, error: visit.texts["code_wrong"])
    }
    let outcome: LoginOutcome
    do {
      outcome = try await accounts.login(
        user: session.userName, password: nil, code: code, checkPassword: false, source: visit.source)
    } catch {
      guard case .invalidInput = error else { throw error }
      return codeForm(visit, recovery: recovery, error: visit.texts["code_wrong"])
    }
    switch outcome {
    case .allowed, .allowedUntilDeadline:
      let accounts = accounts
      try await api.blocking { () throws(VerifierError) in try accounts.endSession(session) }
      let (_, cookie) = try await startSession(
        session.userName, .signedIn, remember: visit.form["remember"] == "1")
      return Self.redirect("/account", cookies: [cookie])
    case .enrollmentRequired:
      let (_, cookie) = try await startSession(session.userName, .enrolOnly)
      return Self.redirect("/account", cookies: [cookie])
    case .refused(let reason):
      let key =
        switch Decision.Reason(rawValue: reason) {
        case .throttled?, .locked?: "code_throttled"
        default: "code_wrong"
        }
      return codeForm(visit, recovery: recovery, error: visit.texts[key])
    case .codeRequired:
      return codeForm(visit, recovery: recovery, error: visit.texts["code_wrong"])
    }
  }
}
