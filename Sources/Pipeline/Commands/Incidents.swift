import ExportCore
import Foundation
import Ledger

/// What notify.yaml's webhook announces after a run (docs/design.md, "Operating partners"): an
/// incident per partner and cause — opened when a run finds the cause, announced once (again at most
/// daily while it lasts), and followed by `<type>.resolved` when a later run of that partner finds it
/// gone. Never a customer value or a secret: the partner, the cause's sentence, counts.
public enum Incidents {
    /// One announcement to send.
    public struct Announcement: Sendable, Equatable {
        /// The `webhook-id`: stable per incident (`…_resolved` for its resolution).
        public let id: String
        public let incident: String
        public let resolved: Bool
        public let previous: String?
        /// The JSON body: `{"type", "partner", "run", "since", "summary", "owed"}`.
        public let body: [UInt8]
        public let type: String
        public let partner: String
    }

    struct Cause: Hashable {
        let partner: String
        let type: String
        let summary: String
        let owed: Int
    }

    /// The causes a run's partners show (a partner can have several: its feed is incomplete *because*
    /// the token endpoint refused it).
    static func causes(of result: PartnerResult) -> [Cause] {
        let owed = result.feed?.owed ?? 0
        let summary = result.error?.message ?? result.alerts.first?.message ?? "\(result.partner): \(result.status.rawValue)"
        var causes: [Cause] = []
        func add(_ type: String, _ text: String = summary) { causes.append(Cause(partner: result.partner, type: type, summary: text, owed: owed)) }
        if result.status == .paused { add("partner.paused") }
        if result.status.skipped { return causes }
        let code = result.error?.code
        if code == "delivery.auth" || (code == "delivery.rejected" && (summary.contains("HTTP 401") || summary.contains("HTTP 403"))) {
            add("auth.failed")
        }
        if code == "delivery.exhausted" { add("delivery.exhausted") }
        if code == "deletions.guard" { add("guard.held") }
        if !result.alerts.isEmpty { add("payload.altered", result.alerts.map(\.message).joined(separator: "; ")) }
        if !result.succeeded && (owed > 0 || !(result.feed?.complete ?? true)) {
            add("feed.incomplete", "\(result.partner)'s feed is incomplete: \(owed) deliveries owed. " + summary)
        }
        return causes
    }

    /// Records what `result` says (opening and resolving incidents), then claims what is to be
    /// announced now; the caller sends each and gives back (``release(_:ledger:)``) those it could not.
    public static func update(after result: RunResult?, failure: ExportError?, ledger: any LedgerStore, events: Set<String>,
                              now: Date) throws -> [Announcement] {
        let time = Timestamps.rfc3339(now)
        var current: [Cause] = []
        // Per partner, the incident types this run could tell about (nil: every type). A partner still at
        // work (another worker's) tells nothing yet; a skipped one (paused, waiting) only whether it is paused.
        var examined: [String: Set<String>?] = [:]
        if let result {
            for partner in result.partners where partner.status != .running && partner.status != .interrupted {
                examined[partner.partner] = partner.status.skipped ? .some(["partner.paused"]) : .some(nil)
                current += causes(of: partner)
            }
        }
        if let failure, failure.code == "audit.rollback" || failure.code == "audit.inconsistent" {
            current.append(Cause(partner: "", type: "audit.failed", summary: failure.message, owed: 0))
        } else if result?.run != nil {
            examined[""] = .some(nil)  // a run that got as far as its partners found the log in order
        }
        let since = result?.startedAt ?? Timestamps.precise(now)
        let wanted = current.filter { events.contains($0.type) }
        for cause in wanted {
            try ledger.openIncident(IncidentRecord(id: id(partner: cause.partner, type: cause.type, since: since), partner: cause.partner,
                                                   type: cause.type, since: since, run: result?.run, summary: cause.summary,
                                                   owed: cause.owed))
        }
        let still = Set(wanted.map { "\($0.partner)\n\($0.type)" })
        for incident in try ledger.incidents() where incident.resolvedAt == nil && !still.contains("\(incident.partner)\n\(incident.type)") {
            guard let types = examined[incident.partner], types.map({ $0.contains(incident.type) }) ?? true else { continue }
            try ledger.resolveIncident(id: incident.id, at: time)
        }
        let repeatBefore = Timestamps.rfc3339(now.addingTimeInterval(-86_400))
        var announcements: [Announcement] = []
        for incident in try ledger.incidents() where events.contains(incident.type) {
            let resolved = incident.resolvedAt != nil
            let previous = resolved ? incident.resolvedSentAt : incident.sentAt
            guard try ledger.claimAnnouncement(id: incident.id, resolved: resolved, at: time, repeatBefore: repeatBefore) else { continue }
            let type = resolved ? incident.type + ".resolved" : incident.type
            let body: [String: Any] = ["type": type, "partner": incident.partner, "run": (resolved ? result?.run : incident.run) ?? NSNull(),
                                       "since": incident.since, "summary": resolved ? "resolved: " + incident.summary : incident.summary,
                                       "owed": resolved ? 0 : incident.owed]
            let json = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
            announcements.append(Announcement(id: resolved ? incident.id + "_resolved" : incident.id, incident: incident.id,
                                              resolved: resolved, previous: previous, body: Array(json), type: type,
                                              partner: incident.partner))
        }
        return announcements
    }

    /// An announcement that could not be delivered: tried again after the next run.
    public static func release(_ announcement: Announcement, ledger: any LedgerStore) throws {
        try ledger.releaseAnnouncement(id: announcement.incident, resolved: announcement.resolved, previous: announcement.previous)
    }

    /// `inc_<24 hex>` from the partner, the cause and when it began.
    static func id(partner: String, type: String, since: String) -> String {
        var hasher = SHA256Hasher()
        hasher.update(Array("\(partner)\n\(type)\n\(since)".utf8))
        return "inc_" + String(hasher.hexDigest().prefix(24))
    }
}
