import ExportCore
import Foundation
import Ledger
@testable import Pipeline
import TestSupport
import Testing

/// Incidents from runs' results: opened once per partner and cause, resolved only by a run that could
/// see the cause gone, announced once (claimed in the ledger), resolutions only for what was announced.
@Suite("Incidents")
struct IncidentsTests {
    static let events = Set(NotifySettings.eventTypes)

    static func result(_ partner: String, _ status: PartnerStatus, owed: Int = 0, error: ExportError? = nil, run: String) -> RunResult {
        var part = PartnerResult(partner: partner, status: status, startedAt: "2026-12-08T01:00:00.000Z")
        part.error = error
        part.feed = PartnerResult.Feed(id: "feed", startedBy: run, isNew: true, complete: owed == 0, owed: owed)
        return RunResult(run: run, trigger: .manual, status: .failed, startedAt: run, finishedAt: run, partners: [part])
    }

    @Test("a failure opens feed.incomplete and delivery.exhausted once; a paused run neither repeats nor resolves them; a delivered run resolves them, announced once each")
    func lifecycle() throws {
        let folder = TestFiles.temporaryDirectory("incidents")
        let ledger = try SQLiteLedger.open(at: folder.appendingPathComponent("ledger.sqlite").path, access: .write(create: true))
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let failed = Self.result("acme", .failed, owed: 2, error: .deliveryExhausted("gave up after 2 attempts"), run: "run_1")
        let first = try Incidents.update(after: failed, failure: nil, ledger: ledger, events: Self.events, now: now)
        #expect(Set(first.map(\.type)) == ["feed.incomplete", "delivery.exhausted"])
        let body = try #require(try JSONSerialization.jsonObject(with: Data(first[0].body)) as? [String: Any])
        #expect(Set(body.keys) == ["type", "partner", "run", "since", "summary", "owed"])

        // The same cause again, an hour later: nothing to announce; the incident keeps its id.
        let again = try Incidents.update(after: Self.result("acme", .failed, owed: 2, error: .deliveryExhausted("again"), run: "run_2"),
                                         failure: nil, ledger: ledger, events: Self.events, now: now.addingTimeInterval(3600))
        #expect(again.isEmpty, "\(again.map(\.type))")
        #expect(try ledger.incidents().filter { $0.resolvedAt == nil }.count == 2)

        // Paused: its owed deliveries are still owed; only partner.paused is news.
        let paused = try Incidents.update(after: Self.result("acme", .paused, owed: 2, error: .partnerPaused("paused since …"), run: "run_3"),
                                          failure: nil, ledger: ledger, events: Self.events, now: now.addingTimeInterval(7200))
        #expect(paused.map(\.type) == ["partner.paused"], "\(paused.map(\.type))")

        // A day after the first announcements, still owed and still paused: a reminder of those a day old,
        // under their own ids (the pause was announced less than a day ago).
        let reminder = try Incidents.update(after: Self.result("acme", .paused, owed: 2, error: .partnerPaused("paused"), run: "run_4"),
                                            failure: nil, ledger: ledger, events: Self.events, now: now.addingTimeInterval(90_000))
        #expect(Set(reminder.map(\.id)) == Set(first.map(\.id)), "\(reminder.map(\.type))")

        // Delivered: every cause is gone.
        let done = try Incidents.update(after: Self.result("acme", .delivered, run: "run_5"), failure: nil, ledger: ledger,
                                        events: Self.events, now: now.addingTimeInterval(90_100))
        #expect(Set(done.map(\.type)) == ["feed.incomplete.resolved", "delivery.exhausted.resolved", "partner.paused.resolved"])
        #expect(done.allSatisfy { $0.id.hasSuffix("_resolved") })
        #expect(try Incidents.update(after: Self.result("acme", .delivered, run: "run_6"), failure: nil, ledger: ledger,
                                     events: Self.events, now: now.addingTimeInterval(90_200)).isEmpty, "resolutions announced once")
    }

    @Test("an announcement not delivered is given back and made after the next run; a resolution of one never announced is not sent")
    func release() throws {
        let folder = TestFiles.temporaryDirectory("incidents")
        let ledger = try SQLiteLedger.open(at: folder.appendingPathComponent("ledger.sqlite").path, access: .write(create: true))
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let events: Set<String> = ["feed.incomplete"]
        let opened = try Incidents.update(after: Self.result("acme", .failed, owed: 1, run: "run_1"), failure: nil, ledger: ledger,
                                          events: events, now: now)
        #expect(opened.count == 1)
        for announcement in opened { try Incidents.release(announcement, ledger: ledger) }
        let retried = try Incidents.update(after: Self.result("acme", .failed, owed: 1, run: "run_2"), failure: nil, ledger: ledger,
                                           events: events, now: now.addingTimeInterval(60))
        #expect(retried.map(\.id) == opened.map(\.id))
        for announcement in retried { try Incidents.release(announcement, ledger: ledger) }
        // Resolved before it was ever delivered: nothing is said about it.
        let resolved = try Incidents.update(after: Self.result("acme", .delivered, run: "run_3"), failure: nil, ledger: ledger,
                                            events: events, now: now.addingTimeInterval(120))
        #expect(resolved.isEmpty, "\(resolved.map(\.type))")
    }
}
