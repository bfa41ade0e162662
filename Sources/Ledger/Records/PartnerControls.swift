/// What operators and partners decided about a partner outside its contract (docs/design.md,
/// "Operating partners"): a pause (who, when, why) and a wait the partner asked for (a `Retry-After`
/// beyond the cap), shared by every worker of the ledger.
public struct PartnerControl: Sendable, Equatable, Codable {
    public var partner: String
    public var pausedAt: String?
    public var pausedBy: String?
    public var pauseReason: String?
    /// RFC 3339: the partner asked us not to send before then.
    public var waitUntil: String?
    public var waitReason: String?

    public init(partner: String, pausedAt: String? = nil, pausedBy: String? = nil, pauseReason: String? = nil,
                waitUntil: String? = nil, waitReason: String? = nil) {
        self.partner = partner
        self.pausedAt = pausedAt
        self.pausedBy = pausedBy
        self.pauseReason = pauseReason
        self.waitUntil = waitUntil
        self.waitReason = waitReason
    }

    public var paused: Bool { pausedAt != nil }

    /// "paused since T by W: reason" (the report's and the runs list's words).
    public var pauseSentence: String? {
        guard let pausedAt else { return nil }
        return "paused since \(pausedAt) by \(pausedBy ?? "?"): \(pauseReason ?? "")"
    }

    /// Whether the partner's wait is still on at `now` (RFC 3339 text compares in time order).
    public func waiting(at now: String) -> Bool { waitUntil.map { $0 > now } ?? false }
}

/// One pause, resume or wait, as the ledger keeps it.
public struct PartnerEvent: Sendable, Equatable, Codable {
    public let partner: String
    public let action: String
    public let at: String
    public let actor: String?
    public let reason: String?

    public init(partner: String, action: String, at: String, actor: String?, reason: String?) {
        self.partner = partner
        self.action = action
        self.at = at
        self.actor = actor
        self.reason = reason
    }
}

/// Pauses, waits and the shared request pace.
public protocol PartnerControlLog: AnyObject {
    /// Pauses `partner` (a pause already on keeps its time and takes the new reason and actor).
    func pause(partner: String, reason: String, by actor: String, at time: String) throws
    /// Ends a pause and any wait; what was cleared (nil: nothing was on).
    func resume(partner: String, by actor: String, at time: String) throws -> PartnerControl?
    /// Remembers that the partner asked us to wait until `until`.
    func wait(partner: String, until: String, reason: String, at time: String) throws
    func partnerControl(_ partner: String) throws -> PartnerControl?
    /// Every partner with a pause or a wait on record (a wait may be over).
    func partnerControls() throws -> [PartnerControl]
    /// Newest first.
    func partnerEvents(partner: String?, limit: Int) throws -> [PartnerEvent]
    /// Takes one request slot of `partner`'s pace: at most `limit` slots in any `window` milliseconds,
    /// counted across every process of the ledger. Nil: taken at `now`; else the time (ms) to ask again.
    func takeRequestSlot(partner: String, limit: Int, window: Int64, now: Int64) throws -> Int64?
}
