import ExportCore
import Foundation
import Reports
import TestSupport
import Testing

/// Every `--json` shape is one Codable type (Reports), used by every writer and reader: each real
/// output decodes into its type and encodes back to the very same text, and a golden file pins each
/// shape (ids, hashes, paths and durations normalised). `UPDATE_GOLDEN=1` rewrites them after an
/// intended change.
@Suite("JSON shapes", .serialized)
struct JSONShapeTests {
    static let golden = TestFiles.packageRoot.appendingPathComponent("Tests/EndToEndTests/Golden/shapes")
    static let clock = ["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z"]

    /// Ids, hashes, temporary paths and timings replaced by stable placeholders, in order of appearance.
    static func normalised(_ text: String, paths: [String]) throws -> String {
        var out = text
        for path in paths { out = out.replacingOccurrences(of: path, with: "<folder>") }
        var names: [String: String] = [:]
        for (pattern, label) in [("(run|dlv|dry)_[0-9]{8}T[0-9]{6}Z_[0-9a-f]+", "id"), ("[0-9a-f]{64}", "sha256")] {
            let regex = try NSRegularExpression(pattern: pattern)
            let matches = regex.matches(in: out, range: NSRange(out.startIndex..., in: out)).compactMap { Range($0.range, in: out) }
            for match in matches.map({ String(out[$0]) }) where names[match] == nil {
                names[match] = "<\(label)-\(names.values.filter { $0.hasPrefix("<\(label)") }.count + 1)>"
            }
        }
        for (original, placeholder) in names.sorted(by: { $0.key.count > $1.key.count }) {
            out = out.replacingOccurrences(of: original, with: placeholder)
        }
        let seconds = try NSRegularExpression(pattern: #""duration_seconds" : [0-9.e-]+"#)
        out = seconds.stringByReplacingMatches(in: out, range: NSRange(out.startIndex..., in: out), withTemplate: #""duration_seconds" : 0"#)
        return out
    }

    func check<T: Codable & Equatable>(_ type: T.Type, _ output: Binary.Result, golden name: String, paths: [String],
                                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(output.stderr.isEmpty || output.status != 0, "\(output.stderr)", sourceLocation: sourceLocation)
        let decoded = try JSONCoding.decode(T.self, from: output.stdout)
        #expect(try JSONCoding.pretty(decoded) == output.stdout, "\(name): the type does not write back what was read",
                sourceLocation: sourceLocation)
        let text = try Self.normalised(output.stdout, paths: paths)
        let url = Self.golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.golden, withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        #expect(text == (try String(contentsOf: url, encoding: .utf8)), "\(name) differs from its golden file",
                sourceLocation: sourceLocation)
    }

    @Test("run, rerun, runs show, runs, deliveries, disclosures, dry run and preview: each --json shape is its type, pinned")
    func shapes() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [[:], ["status": 422]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 12, maxRecords: 5)
        let paths = [fixture.folder.path, fixture.folder.resolvingSymlinksInPath().path]
        let run = try fixture.run(["run", "acme", "--json"], extra: Self.clock)
        #expect(run.status == 1)
        try check(RunReport.self, run, golden: "run.json", paths: paths)
        let failed = try fixture.run(["deliveries", "--failed", "--json"], extra: Self.clock)
        try check([DeliveryEntry].self, failed, golden: "deliveries-failed.json", paths: paths)
        let rerun = try fixture.run(["rerun", "--failed", "--json"], extra: Self.clock)
        #expect(rerun.status == 0, "\(rerun.output)")
        try check(RunReport.self, rerun, golden: "rerun.json", paths: paths)
        let runID = try #require(try JSONCoding.decode(RunReport.self, from: run.stdout).run)
        try check(RunReport.self, try fixture.run(["runs", "show", runID, "--json"], extra: Self.clock), golden: "runs-show.json",
                  paths: paths)
        try check([RunEntry].self, try fixture.run(["runs", "--json"], extra: Self.clock), golden: "runs.json", paths: paths)
        try check([DeliveryEntry].self, try fixture.run(["deliveries", "--json"], extra: Self.clock), golden: "deliveries.json",
                  paths: paths)
        try check([DisclosureEntry].self, try fixture.run(["disclosures", "3", "--json"], extra: Self.clock), golden: "disclosures.json",
                  paths: paths)
        try check(DryRunDocument.self, try fixture.run(["run", "acme", "--dry-run", "--json"], extra: Self.clock), golden: "dry-run.json",
                  paths: paths)
        try check(PreviewDocument.self, try fixture.run(["preview", "acme", "--json", "--limit", "1"], extra: Self.clock),
                  golden: "preview.json", paths: paths)
        let nothing = try fixture.run(["rerun", "--failed", "--json"], extra: Self.clock)
        #expect(nothing.status == 0)
        try check(RunReport.self, nothing, golden: "rerun-nothing.json", paths: paths)
    }

    @Test("every shape's type round-trips its own values, optional fields included")
    func roundTrips() throws {
        let partner = PartnerReport(partner: "p", status: "failed", error: ErrorReport(code: "delivery.rejected", fate: "permanent",
                                                                                        message: "HTTP 422"),
                                    feed: FeedReport(id: "r/p", startedBy: "r", new: true, complete: false, owed: 2, reason: nil),
                                    eligible: nil, records: 3, deliveries: 2, delivered: 1, failed: 0, deliveriesRejected: 1, held: 1,
                                    rejectedRecords: 4, rejectedByReason: ["malformed_list": 4], replacedCharacters: 2, retries: 1,
                                    bytes: 10, startedAt: "s", fields: [FieldReport(name: "a", from: "id", form: "pseudonym", values: 3,
                                                                                     allowedForms: nil)],
                                    actions: [DeliveryAction(delivery: "d", batch: 2, action: .held, status: "held")], completedBy: ["r2"])
        let report = RunReport(run: "r", trigger: "manual", status: "failed", startedAt: "s", finishedAt: nil, durationSeconds: nil,
                               partners: [partner], incompleteElsewhere: ["q"])
        #expect(try JSONCoding.decode(RunReport.self, from: try JSONCoding.pretty(report)) == report)
        let text = try JSONCoding.pretty(report)
        #expect(text.contains(#""rejected" : 4"#) && text.contains(#""rejected_records" : 4"#), "the earlier name is kept beside the new")
        #expect(text.contains(#""rejected_deliveries" : 1"#) && text.contains(#""deliveries_rejected" : 1"#))
        #expect(text.contains(#""eligible" : null"#) && text.contains(#""finished_at" : null"#), "absent values are null, never missing")
        let sample = PreviewDocument(partner: "p", name: "P", purpose: "x", format: "json", consent: ["s"], customers: 1, eligible: 1,
                                     rendered: 1, rejected: [.init(customerID: 7, reason: "r", code: "c")], rejectedCount: 1,
                                     excluded: ["no_consent:s": 0], fields: [], allowedNotSent: [], replacedCharacters: 0,
                                     samplesMasked: false, samples: [["a": .null, "b": .text("x"), "c": .number(3), "d": .list(["y"])]],
                                     out: nil)
        #expect(try JSONCoding.decode(PreviewDocument.self, from: try JSONCoding.pretty(sample)) == sample)
    }
}
