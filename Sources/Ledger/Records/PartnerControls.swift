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

/// An incident notify.yaml's webhook announces: one per partner and cause while it lasts.
public struct IncidentRecord: Sendable, Equatable {
    /// Stable while it lasts: the notification's `webhook-id`.
    public let id: String
    /// "" for the whole ledger (`audit.failed`).
    public let partner: String
    public let type: String
    public let since: String
    public var run: String?
    public var summary: String
    public var owed: Int
    public var sentAt: String?
    public var resolvedAt: String?
    public var resolvedSentAt: String?

    public init(id: String, partner: String, type: String, since: String, run: String?, summary: String, owed: Int,
                sentAt: String? = nil, resolvedAt: String? = nil, resolvedSentAt: String? = nil) {
        self.id = id
        self.partner = partner
        self.type = type
        self.since = since
        self.run = run
        self.summary = summary
        self.owed = owed
        self.sentAt = sentAt
        self.resolvedAt = resolvedAt
        self.resolvedSentAt = resolvedSentAt
    }
}

/// Incidents: opened, updated and resolved after each run; each announcement claimed before it is
/// sent, so that several workers never send one twice.
public protocol IncidentLog: AnyObject {
    /// Incidents not resolved, and resolved ones whose resolution was not announced yet.
    func incidents() throws -> [IncidentRecord]
    /// Opens `incident` unless one of its partner and type is open; else updates that one's run, summary and owed.
    func openIncident(_ incident: IncidentRecord) throws
    func resolveIncident(id: String, at time: String) throws
    /// Takes the right to announce: an open incident never sent or last sent at or before `repeatBefore`
    /// (`resolved` false), or the resolution of one that was announced (`resolved` true). False: another
    /// process has it, or there is nothing to announce.
    func claimAnnouncement(id: String, resolved: Bool, at time: String, repeatBefore: String) throws -> Bool
    /// Gives an announcement that could not be delivered back (to be tried after the next run).
    func releaseAnnouncement(id: String, resolved: Bool, previous: String?) throws
}
