import BrowserInput
import Foundation
import Hummingbird
import Verifier
import VerifierService

/// The administrators' pages, for members of ``WebPages/Options/adminGroup``: users and their
/// factors, the per-user actions, the policy and the audit log. To anyone else they do not exist
/// (404).
extension WebPages {
  func registerAdmin(on router: Router<ServiceRequestContext>) {
    router.get("/admin/users") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in try await usersPage(visit) }
    }
    router.get("/admin/users/:name") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in
        guard let name = Self.nameParameter(context) else { return notFound(visit) }
        let done = request.uri.queryParameters["done"] != nil ? visit.texts["done"] : nil
        return try await userPage(visit, name, notice: done, error: nil)
      }
    }
    router.post("/admin/users/:name/:action") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in
        guard let name = Self.nameParameter(context), let action = context.parameters.get("action") else {
          return notFound(visit)
        }
        return try await userAction(visit, name, action)
      }
    }
    router.get("/admin/policy") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in
        try await policyPage(visit, notice: nil, error: nil)
      }
    }
    router.post("/admin/policy") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in try await setPolicy(visit) }
    }
    router.get("/admin/audit") { request, context in
      await visit(request, context, needs: [.signedIn], admin: true) { visit in try await auditPage(visit) }
    }
  }

  func notFound(_ visit: Visit) -> Response {
    render("message", visit, ["heading": visit.texts["not_found"], "text": ""], status: .notFound)
  }

  /// A user name from the path, percent-decoded.
  static func nameParameter(_ context: ServiceRequestContext) -> String? {
    context.parameters.get("name")?.removingPercentEncoding
  }

  /// A user name as one path segment.
  static func pathSegment(_ name: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove(charactersIn: "/?#%")
    return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
  }

  func usersPage(_ visit: Visit) async throws -> Response {
    let accounts = accounts
    let rows = try await api.blocking { () throws(VerifierError) in
      try storeCall { () throws(StoreError) in try accounts.store.users() }.prefix(1000).map {
        user throws(VerifierError) in
        (
          try accounts.factorSummary(user: user.name),
          try storeCall { () throws(StoreError) in
            try accounts.store.account(userID: user.id)
          }
        )
      }
    }
    let t = visit.texts
    let now = now
    let users = rows.map { summary, account -> [String: Any] in
      var factors: [String] = summary.tokens.map { "\(t["token"]) \($0.serial)" }
      factors += summary.phoneApps.filter(\.active).map { _ in t["phone_app"] }
      factors.append("\(summary.recoveryCodesLeft) \(t["recovery_codes"])")
      let locked = summary.tokens.contains(where: \.locked) || summary.phoneApps.contains(where: \.locked)
      let throttled =
        summary.tokens.contains { ($0.throttledUntil ?? 0) > now }
        || summary.phoneApps.contains { ($0.throttledUntil ?? 0) > now }
      var state = locked ? t["locked"] : throttled ? t["throttled"] : t["active"]
      let failures =
        summary.tokens.map(\.failures).reduce(0, +) + summary.phoneApps.map(\.failures).reduce(0, +)
      if failures > 0 { state += ", \(failures) \(t["failures"])" }
      if let off = account.secondFactorOffUntil, off > now {
        state += ", \(t["second_factor_off_until"]) \(Self.day(off))"
      }
      return [
        "name": summary.user, "path": Self.pathSegment(summary.user),
        "groups": account.groups.joined(separator: ", "), "factors": factors.joined(separator: ", "),
        "state": state,
      ]
    }
    return render("admin-users", visit, ["users": users])
  }

  func userPage(_ visit: Visit, _ name: String, notice: String?, error: String?) async throws -> Response {
    let accounts = accounts
    let found = try await api.blocking { () throws(VerifierError) -> (FactorSummary, AccountRecord)? in
      guard let user = try storeCall({ () throws(StoreError) in try accounts.store.user(named: name) }) else {
        return nil
      }
      return (
        try accounts.factorSummary(user: name),
        try storeCall { () throws(StoreError) in try accounts.store.account(userID: user.id) }
      )
    }
    guard let (summary, account) = found else { return notFound(visit) }
    let t = visit.texts
    let now = now
    func state(_ active: Bool, _ locked: Bool, _ until: Int64?, _ failures: Int) -> String {
      let state =
        locked ? t["locked"] : (until ?? 0) > now ? t["throttled"] : active ? t["active"] : t["unconfirmed"]
      return failures > 0 ? "\(state), \(failures) \(t["failures"])" : state
    }
    var values: [String: Any] = [
      "user": name, "path": Self.pathSegment(name), "groups": account.groups.joined(separator: ", "),
      "tokens": summary.tokens.map {
        ["serial": $0.serial, "state": state($0.active, $0.locked, $0.throttledUntil, $0.failures)]
      },
      "phoneApps": summary.phoneApps.map {
        ["id": String($0.id), "state": state($0.active, $0.locked, $0.throttledUntil, $0.failures)]
      },
      "recoveryLeft": summary.recoveryCodesLeft, "appPasswordCount": summary.appPasswords.count,
    ]
    if let off = account.secondFactorOffUntil, off > now { values["offUntil"] = Self.time(off) }
    if let notice { values["notice"] = notice }
    if let error { values["error"] = error }
    return render("admin-user", visit, values)
  }

  /// One action on one user; each is audited with the administrator's session as the source.
  func userAction(_ visit: Visit, _ name: String, _ action: String) async throws -> Response {
    let (accounts, form) = (accounts, visit.form)
    let source = "\(visit.session!.userName)@\(visit.source)"
    let back = "/admin/users/\(Self.pathSegment(name))"
    do {
      switch action {
      case "unlock":
        try await accounts.unlock(user: name, source: source)
      case "second-factor-off":
        guard let days = form.text("days").flatMap({ Int($0) }) else {
          throw VerifierError.invalidInput("days")
        }
        try await api.blocking { () throws(VerifierError) in
          try accounts.disableSecondFactor(user: name, days: days)
        }
      case "remove-token":
        let serial = form["serial"] ?? ""
        try await api.blocking { () throws(VerifierError) in
          try accounts.hotp.remove(serial: serial, user: name, source: source)
        }
      case "remove-phone":
        guard let id = form.text("id").flatMap({ Int64($0) }) else { throw VerifierError.invalidInput("id") }
        try await api.blocking { () throws(VerifierError) in
          try accounts.removePhoneApp(user: name, id: id, source: source)
        }
      case "token":
        let codes = (form.text("code1") ?? "", form.text("code2") ?? "")
        let serial = form.text("serial")
        let resync = form["do"] == "resync"
        let decision = try await api.blocking { () throws(VerifierError) in
          if resync {
            return try accounts.hotp.resync(user: name, serial: serial, codes: codes, source: source)
          }
          guard let serial else { throw .invalidInput("give the token's serial") }
          return try accounts.hotp.assign(serial: serial, to: name, codes: codes, source: source)
        }
        guard decision.isAccepted else {
          return try await userPage(
            visit, name, notice: nil, error: visit.texts["refused"] + decision.reason.rawValue)
        }
      case "delete":
        guard form.text("confirm") == name else {
          return try await userPage(visit, name, notice: nil, error: visit.texts["delete_confirm"])
        }
        try await api.blocking { () throws(VerifierError) in
          try accounts.deleteUser(name: name, source: source)
        }
        return Self.redirect("/admin/users")
      default:
        return notFound(visit)
      }
    } catch let error as VerifierError {
      switch error {
      case .unknownUser: return notFound(visit)
      case .invalidInput(let why), .notFound(let why), .conflict(let why):
        return try await userPage(visit, name, notice: nil, error: visit.texts["refused"] + why)
      default: throw error
      }
    }
    return Self.redirect(back + "?done=1")
  }

  func policyPage(_ visit: Visit, notice: String?, error: String?) async throws -> Response {
    let accounts = accounts
    let policy = try await api.blocking { () throws(VerifierError) in try accounts.policy() }
    var values: [String: Any] = ["deadline": policy.deadline.map(Self.day) ?? ""]
    switch policy.mandatoryFor {
    case .nobody: values["nobody"] = true
    case .everyone: values["everyone"] = true
    case .group(let name): (values["group"], values["groupName"]) = (true, name)
    }
    if let notice { values["notice"] = notice }
    if let error { values["error"] = error }
    return render("admin-policy", visit, values)
  }

  func setPolicy(_ visit: Visit) async throws -> Response {
    let form = visit.form
    var deadline: Int64?
    if let text = form.text("deadline") {
      guard let date = Self.utc("yyyy-MM-dd").date(from: text) else {
        return try await policyPage(
          visit, notice: nil, error: visit.texts["refused"] + visit.texts["deadline"])
      }
      deadline = Int64(date.timeIntervalSince1970 * 1000)
    }
    let scope: LoginPolicy.Scope
    switch (form["scope"], form.text("group")) {
    case ("nobody", _): scope = .nobody
    case ("everyone", _): scope = .everyone
    case ("group", let group?) where group.count <= 256: scope = .group(group)
    default:
      return try await policyPage(
        visit, notice: nil, error: visit.texts["refused"] + visit.texts["group_name"])
    }
    let (accounts, policy) = (accounts, LoginPolicy(mandatoryFor: scope, deadline: deadline))
    try await api.blocking { () throws(VerifierError) in
      try accounts.setPolicy(policy)
    }
    return try await policyPage(visit, notice: visit.texts["saved"], error: nil)
  }

  static let auditPageSize = 50

  /// The audit log, newest first, filtered by user and action, a page at a time.
  func auditPage(_ visit: Visit) async throws -> Response {
    let query = visit.request.uri.queryParameters
    let user = query["user"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    let action = query["action"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
    let page = max(0, min(query["page"].flatMap { Int($0) } ?? 0, 199))
    let accounts = accounts
    let size = Self.auditPageSize
    let fetched = try await api.blocking { () throws(VerifierError) in
      try storeCall { () throws(StoreError) in
        try accounts.store.auditEntries(user: user, limit: action == nil ? (page + 1) * size + 1 : 10_000)
      }
    }
    let matching = action.map { wanted in fetched.filter { $0.action == wanted } } ?? fetched
    let shown = matching.dropFirst(page * size).prefix(size)
    func link(_ page: Int) -> String {
      var items = [URLQueryItem(name: "page", value: String(page))]
      if let user { items.append(URLQueryItem(name: "user", value: user)) }
      if let action { items.append(URLQueryItem(name: "action", value: action)) }
      var components = URLComponents()
      components.path = "/admin/audit"
      components.queryItems = items
      return components.string ?? "/admin/audit"
    }
    var values: [String: Any] = [
      "filterUser": user ?? "", "filterAction": action ?? "",
      "entries": shown.map {
        [
          "at": Self.time($0.at), "user": $0.user ?? "", "action": $0.action, "result": $0.result,
          "reason": $0.reason, "source": $0.source ?? "",
        ]
      },
    ]
    if page > 0 { values["newer"] = link(page - 1) }
    if matching.count > (page + 1) * size { values["older"] = link(page + 1) }
    return render("admin-audit", visit, values)
  }
}
