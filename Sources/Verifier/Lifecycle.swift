import Foundation

/// The end of things: a lost phone removed, a password changed, recovery codes revoked, a user
/// deleted. Each is one audited write; each that could let an old holder back in also ends the
/// user's browser sessions.
extension Accounts {
  /// Removes one of the user's phone apps (its id is in ``FactorSummary/PhoneApp/id``): its codes stop
  /// working at once.
  public func removePhoneApp(user name: String, id: Int64, source: String? = nil) throws(VerifierError) {
    let user = try hotp.lookUp(name)
    let removed = try storeCall { () throws(StoreError) in
      try store.removeTOTPFactor(
        userID: user.id, factorID: id,
        audit: AuditEntry(
          at: now, user: name, factor: "totp", action: "totp-remove", result: "done", reason: "removed",
          source: source))
    }
    guard removed else { throw .notFound("phone app \(id) of \(name)") }
  }

  /// Revokes every recovery code of the user.
  public func revokeRecoveryCodes(user name: String, source: String? = nil) throws(VerifierError) {
    let user = try hotp.lookUp(name)
    try storeCall { () throws(StoreError) in
      try store.replaceRecoveryCodes(
        userID: user.id, hashes: [],
        audit: AuditEntry(
          at: now, user: name, factor: "recovery", action: "recovery-revoke", result: "done",
          reason: "revoked", source: source))
    }
  }

  /// Changes the account password after checking the current one, whose attempt is charged like
  /// a login's. Every browser session of the user ends. False: the current password was wrong (or
  /// the user is throttled).
  public func changePassword(user name: String, current: String, new: String, source: String? = nil)
    async throws(VerifierError) -> Bool
  {
    guard !new.isEmpty, new.utf8.count <= 1024 else { throw .invalidInput("a password is 1 to 1024 bytes") }
    let charged = try await run(name, .attempts, source) { planner, snapshot in
      planner.charge(.password, snapshot)
    }
    guard charged.decision.reason == .wrongCode else { return false }
    let user = try hotp.lookUp(name)
    let account = try storeCall { () throws(StoreError) in try store.account(userID: user.id) }
    let right = try await offloaded { () -> Bool in
      account.passwordHash.map { PasswordHash.verify(current, against: $0) } ?? false
    }
    guard right else {
      try storeCall { () throws(StoreError) in
        try store.append(
          AuditEntry(
            at: now, user: name, factor: AttemptKind.password.rawValue, action: "password-change",
            result: "refused", reason: "wrong-password", source: source))
      }
      return false
    }
    _ = try await run(name, .attempts, source) { planner, snapshot in planner.clear(.password, snapshot) }
    let rounds = settings.passwordRounds
    let hash = try await offloaded { () throws(VerifierError) in try PasswordHash.make(new, rounds: rounds) }
    try setPasswordHash(user, hash, action: "password-change", source: source)
    return true
  }

  /// Sets the account password without the current one (an administrator's order); every browser
  /// session of the user ends.
  public func setPassword(user name: String, password: String, source: String? = nil) throws(VerifierError) {
    guard !password.isEmpty, password.utf8.count <= 1024 else {
      throw .invalidInput("a password is 1 to 1024 bytes")
    }
    let user = try hotp.lookUp(name)
    try setPasswordHash(
      user, try PasswordHash.make(password, rounds: settings.passwordRounds), action: "password-set",
      source: source)
  }

  func setPasswordHash(_ user: UserRecord, _ hash: String, action: String, source: String?)
    throws(VerifierError)
  {
    try storeCall { () throws(StoreError) in
      var account = try store.account(userID: user.id)
      account.passwordHash = hash
      try store.updateAccount(
        userID: user.id, account,
        audit: AuditEntry(
          at: now, user: user.name, factor: nil, action: action, result: "done", reason: "set", source: source
        ))
      try store.deleteSessions(userID: user.id)
    }
  }

  /// Deletes a user and everything of theirs; their hardware tokens return to the inventory,
  /// unassigned (see ``VerifierStore/deleteUser(userID:audit:)``).
  public func deleteUser(name: String, source: String? = nil) throws(VerifierError) {
    let user = try hotp.lookUp(name)
    let deleted = try storeCall { () throws(StoreError) in
      try store.deleteUser(
        userID: user.id,
        audit: AuditEntry(
          at: now, user: name, factor: nil, action: "user-delete", result: "done", reason: "deleted",
          source: source))
    }
    guard deleted else { throw .unknownUser(name) }
  }
}
