import OneTimePassword

extension HOTPVerifier {
  /// Whether `serial` may be registered to `name`: refused if it belongs to another user, or is
  /// an active token of this user and `replace` is not given. An unconfirmed registration of the
  /// same user may always be redone (that is how a failed registration is retried).
  public func checkRegistration(serial: String, user name: String, replace: Bool) throws(VerifierError) {
    let user = try lookUp(name)
    guard let existing = try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) })
    else { return }
    guard let owner = existing.userID else {
      throw .conflict("token \(serial) is an imported token waiting to be assigned: use `otptoken assign`")
    }
    guard owner == user.id else { throw .conflict("token \(serial) belongs to another user") }
    if existing.active && !replace {
      throw .conflict("token \(serial) is already registered to \(name): pass --replace to program it again")
    }
  }

  /// Whether the verifier holds a record of the token `serial`: registered, pending or imported.
  public func knows(serial: String) throws(VerifierError) -> Bool {
    try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) }) != nil
  }

  /// Stores a freshly programmed token for `name`, unconfirmed until ``confirm(serial:user:code:source:)``,
  /// replacing any earlier registration of the same serial by the same user in one transaction.
  public func storeRegistration(
    serial: String, user name: String, secret: OTPSecret, digits: Int, counter: UInt64, replace: Bool,
    source: String? = nil
  ) throws(VerifierError) {
    try checkRegistration(serial: serial, user: name, replace: replace)
    let user = try lookUp(name)
    let factor = NewHOTPFactor(
      userID: user.id, serial: serial, digits: digits, algorithm: .sha1,
      sealedSecret: try keys.seal(secret.bytes, context: Self.sealingContext(serial: serial)),
      counter: counter,
      active: false)
    let audit = AuditEntry(
      at: now, user: name, factor: "hotp:\(serial)", action: "register", result: "done", reason: "programmed",
      counterAfter: counter, source: source)
    try storeCall { () throws(StoreError) in
      try store.importHOTPFactors([factor], replace: true, audit: audit)
    }
  }

  /// Confirms a registration with the code of the first press: the token counts from now on, and
  /// that code is used up.
  public func confirm(serial: String, user name: String, code text: String, source: String? = nil)
    throws(VerifierError) -> Decision
  {
    let code = try Self.parseCode(text)
    let user = try lookUp(name)
    for _ in 0..<Self.raceRetries {
      guard let factor = try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) }),
        factor.userID == user.id
      else { throw .notFound("a registration of token \(serial) for \(name)") }
      guard !factor.active else { return Decision(reason: .accepted, factor: label(factor)) }
      let state = factor.state
      let generator = try self.generator(factor)
      guard let counter = generator.find(code, from: state.nextCounter, count: settings.lookAhead) else {
        let audit = entry(
          user, factor, "confirm", "refused", "wrong-code", state.nextCounter, state.nextCounter, source)
        guard try cas(factor, state, failed(state, now: now), audit) else { continue }
        return Decision(reason: .wrongCode, factor: label(factor))
      }
      let next = HOTPState(nextCounter: counter &+ 1, version: state.version)
      let audit = entry(
        user, factor, "confirm", "accepted", "confirmed", state.nextCounter, counter &+ 1, source)
      let won = try storeCall { () throws(StoreError) in
        try store.assign(
          factorID: factor.id, to: user.id, expectedVersion: state.version, newState: next, audit: audit)
      }
      if won { return Decision(reason: .accepted, factor: label(factor), counter: counter) }
    }
    throw .store(.unavailable("the token kept changing under concurrent requests; try again"))
  }

  /// Removes one of a user's tokens.
  public func remove(serial: String, user name: String, source: String? = nil) throws(VerifierError) {
    let user = try lookUp(name)
    guard let factor = try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) }),
      factor.userID == user.id
    else { throw .notFound("token \(serial) of \(name)") }
    let audit = entry(user, factor, "remove", "done", "removed", factor.state.nextCounter, nil, source)
    try storeCall { () throws(StoreError) in try store.deleteHOTPFactor(id: factor.id, audit: audit) }
  }

  /// The user who owns the token with this serial, if any (for a kiosk reading presses).
  public func owner(ofSerial serial: String) throws(VerifierError) -> String? {
    guard let factor = try storeCall({ () throws(StoreError) in try store.hotpFactor(serial: serial) }),
      let owner = factor.userID, factor.active
    else { return nil }
    return try storeCall { () throws(StoreError) in try store.users() }.first { $0.id == owner }?.name
  }
}
