import Foundation
import OneTimePassword

extension MemoryStore: AccountStore {
  public func insertTOTPFactor(
    userID: Int64, sealedSecret: SealedSecret, digits: Int, period: Int, algorithm: HashAlgorithm,
    audit: AuditEntry
  ) throws(StoreError) -> TOTPFactorRecord {
    try accounts(audit: audit) { state throws(StoreError) in
      state.totp = state.totp.filter { $0.value.userID != userID || $0.value.state.active }
      let record = TOTPFactorRecord(
        id: state.nextID, userID: userID, sealedSecret: sealedSecret, digits: digits, period: period,
        algorithm: algorithm, state: TOTPState())
      state.nextID += 1
      state.totp[record.id] = record
      return record
    }
  }

  public func totpFactors(userID: Int64) throws(StoreError) -> [TOTPFactorRecord] {
    try accounts { state throws(StoreError) in
      state.totp.values.filter { $0.userID == userID }.sorted { $0.id < $1.id }
    }
  }

  public func compareAndSetTOTP(
    factorID: Int64, expectedVersion: Int64, newState: TOTPState, audit: AuditEntry
  )
    throws(StoreError) -> Bool
  {
    try accounts(audit: audit, onlyIf: { $0 }) { state throws(StoreError) in
      guard var factor = state.totp[factorID], factor.state.version == expectedVersion else { return false }
      factor.state = newState
      factor.state.version = expectedVersion + 1
      state.totp[factorID] = factor
      return true
    }
  }

  public func removeTOTPFactor(userID: Int64, factorID: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try accounts(audit: audit, onlyIf: { $0 }) { state throws(StoreError) in
      guard state.totp[factorID]?.userID == userID else { return false }
      state.totp[factorID] = nil
      return true
    }
  }

  public func replaceRecoveryCodes(userID: Int64, hashes: [[UInt8]], audit: AuditEntry) throws(StoreError) {
    try accounts(audit: audit) { state throws(StoreError) in
      state.recovery[userID] = hashes.map { hash in
        defer { state.nextID += 1 }
        return RecoveryCodeRecord(id: state.nextID, hash: hash, used: false)
      }
    }
  }

  public func remainingRecoveryCodes(userID: Int64) throws(StoreError) -> Int {
    try accounts { state throws(StoreError) in state.recovery[userID]?.filter { !$0.used }.count ?? 0 }
  }

  public func addAppPassword(userID: Int64, name: String, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try accounts(audit: audit) { state throws(StoreError) in
      guard state.appPasswords[userID]?[name] == nil else { throw .conflict("application password \(name)") }
      state.appPasswords[userID, default: [:]][name] = (
        hash, AppPasswordRecord(name: name, createdAt: at, lastUsedAt: nil)
      )
    }
  }

  public func revokeAppPassword(userID: Int64, name: String, audit: AuditEntry) throws(StoreError) -> Bool {
    try accounts(audit: audit, onlyIf: { $0 }) { state throws(StoreError) in
      state.appPasswords[userID]?.removeValue(forKey: name) != nil
    }
  }

  public func useAppPassword(userID: Int64, hash: [UInt8], at: Int64, audit: AuditEntry) throws(StoreError)
    -> String?
  {
    try accounts(audit: audit, onlyIf: { $0 != nil }) { state throws(StoreError) in
      guard let name = state.appPasswords[userID]?.first(where: { $0.value.hash == hash })?.key else {
        return nil
      }
      state.appPasswords[userID]![name]!.record.lastUsedAt = at
      return name
    }
  }

  public func appPasswords(userID: Int64) throws(StoreError) -> [AppPasswordRecord] {
    try accounts { state throws(StoreError) in
      (state.appPasswords[userID] ?? [:]).values.map(\.record).sorted { $0.name < $1.name }
    }
  }

  public func account(userID: Int64) throws(StoreError) -> AccountRecord {
    try accounts { state throws(StoreError) in state.accountRecords[userID] ?? AccountRecord() }
  }

  public func updateAccount(userID: Int64, _ account: AccountRecord, audit: AuditEntry) throws(StoreError) {
    try accounts(audit: audit) { state throws(StoreError) in state.accountRecords[userID] = account }
  }

  public func loginPolicy() throws(StoreError) -> LoginPolicy {
    try accounts { state throws(StoreError) in state.policy }
  }

  public func setLoginPolicy(_ policy: LoginPolicy, audit: AuditEntry) throws(StoreError) {
    try accounts(audit: audit) { state throws(StoreError) in state.policy = policy }
  }
}

extension MemoryStore: BrowserSessionStore {
  public func insertSession(_ session: BrowserSession) throws(StoreError) {
    try accounts { state throws(StoreError) in
      state.sessions = state.sessions.filter { $0.value.expiresAt > session.createdAt }
      state.sessions[session.idHash] = session
    }
  }

  public func session(idHash: [UInt8], now: Int64) throws(StoreError) -> BrowserSession? {
    try accounts { state throws(StoreError) in
      state.sessions[idHash].flatMap { $0.expiresAt > now ? $0 : nil }
    }
  }

  public func deleteSession(idHash: [UInt8]) throws(StoreError) {
    try accounts { state throws(StoreError) in state.sessions[idHash] = nil }
  }

  public func deleteSessions(userID: Int64) throws(StoreError) {
    try accounts { state throws(StoreError) in
      state.sessions = state.sessions.filter { $0.value.userID != userID }
    }
  }
}

/// The account side of a ``MemoryStore``.
struct MemoryAccountState {
  var nextID: Int64 = 1_000_000
  var totp: [Int64: TOTPFactorRecord] = [:]
  var recovery: [Int64: [RecoveryCodeRecord]] = [:]
  var appPasswords: [Int64: [String: (hash: [UInt8], record: AppPasswordRecord)]] = [:]
  var accountRecords: [Int64: AccountRecord] = [:]
  /// By user, then kind.
  var attempts: [Int64: [String: AttemptState]] = [:]
  var policy = LoginPolicy()
  var clientKeys: [String: (hash: [UInt8], record: ClientKeyRecord)] = [:]
  var sessions: [[UInt8]: BrowserSession] = [:]

  /// Drops everything of a deleted user.
  mutating func removeUser(_ userID: Int64) {
    totp = totp.filter { $0.value.userID != userID }
    recovery[userID] = nil
    appPasswords[userID] = nil
    accountRecords[userID] = nil
    attempts[userID] = nil
    sessions = sessions.filter { $0.value.userID != userID }
  }
}

extension MemoryStore: ClientKeyStore {
  public func insertClientKey(name: String, scope: ClientScope, hash: [UInt8], at: Int64, audit: AuditEntry)
    throws(StoreError)
  {
    try accounts(audit: audit) { state throws(StoreError) in
      guard state.clientKeys[name] == nil else { throw .conflict("API key \(name)") }
      state.clientKeys[name] = (hash, ClientKeyRecord(name: name, scope: scope, createdAt: at))
    }
  }

  public func clientKey(hash: [UInt8]) throws(StoreError) -> ClientKeyRecord? {
    try accounts { state throws(StoreError) in state.clientKeys.values.first { $0.hash == hash }?.record }
  }

  public func revokeClientKey(name: String, at: Int64, audit: AuditEntry) throws(StoreError) -> Bool {
    try accounts(audit: audit, onlyIf: { $0 }) { state throws(StoreError) in
      guard state.clientKeys[name]?.record.revokedAt == nil, state.clientKeys[name] != nil else {
        return false
      }
      state.clientKeys[name]?.record.revokedAt = at
      return true
    }
  }

  public func clientKeys() throws(StoreError) -> [ClientKeyRecord] {
    try accounts { state throws(StoreError) in
      state.clientKeys.values.map(\.record).sorted { $0.name < $1.name }
    }
  }
}
