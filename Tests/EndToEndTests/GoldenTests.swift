import Foundation
import SQLite
import TestSupport
import Testing

/// Golden files for a JSON feed, an XML feed and the preview's JSON report, from a fixed database and
/// clock. `UPDATE_GOLDEN=1 swift test --filter GoldenTests` rewrites them after an intended change.
@Suite("Golden files")
struct GoldenTests {
    static let environment = EndToEndTests.keys.merging(["PARTNER_EXPORT_NOW": "2026-11-27T02:00:00Z"]) { $1 }
    let config = TestFiles.packageRoot.path
    let golden = TestFiles.packageRoot.appendingPathComponent("Tests/EndToEndTests/Golden")

    /// Eight customers with a few of the values real data holds.
    func database() throws -> String {
        let path = TestFiles.temporaryDirectory("golden").appendingPathComponent("c.sqlite").path
        try Fixtures.write(path, customers: [
            .init(id: 1),
            .init(id: 2, ["first_name": .text("Zoë"), "last_name": .text("O'Brien & Sons"), "email": .text(" Zoe.OBrien@Example.COM "),
                          "country": .text("IE"), "postal_code": .text("D02 X285"), "city": .text("Dublin"), "services": .text("[]")]),
            .init(id: 3, ["first_name": .text("محمد"), "city": .text("<Cairo>"), "services": .text(#"["tv","mobile"]"#)]),
            .init(id: 4, ["first_name": .textBytes([0x41, 0x00, 0x42, 0xFF]), "city": .null, "postal_code": .null]),
            .init(id: 5, ["services": .text("not json")]),
            .init(id: 6, ["account_status": .text("closed")]),
            .init(id: 7, ["created_at": .text("2001-09-09T01:46:40Z"), "first_name": .text("👩‍👩‍👧 Family")]),
            .init(id: 8),
        ], consents: [
            .init(1, "partner-offers"), .init(1, "partner-programs"),
            .init(2, "partner-offers"), .init(2, "partner-programs"),
            .init(3, "partner-offers"), .init(3, "partner-programs", withdrawnAt: .text("2025-01-01T00:00:00Z")),
            .init(4, "partner-offers"), .init(4, "partner-programs"),
            .init(5, "partner-offers"),
            .init(6, "partner-offers"), .init(6, "partner-programs"),
            .init(7, "partner-offers"), .init(7, "partner-programs"),
        ])
        return path
    }

    func compare(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(actual == expected, "\(name) differs from the golden file; rerun with UPDATE_GOLDEN=1 if intended",
                sourceLocation: sourceLocation)
    }

    @Test("feeds and the preview report match the golden files", arguments: [
        ("acme-offers", "acme-offers.json"), ("globex-programs", "globex-programs.xml"),
    ])
    func feeds(_ case_: (partner: String, file: String)) throws {
        let db = try database()
        let out = TestFiles.temporaryDirectory("golden").appendingPathComponent(case_.file).path
        let result = try Binary.run(["preview", case_.partner, "--config", config, "--db", db, "--out", out],
                                    environment: Self.environment)
        #expect(result.status == 0, "\(result.output)")
        try compare(String(contentsOfFile: out, encoding: .utf8), case_.file)
        let report = try Binary.run(["preview", case_.partner, "--config", config, "--db", db, "--json"], environment: Self.environment)
        #expect(report.status == 0)
        try compare(report.stdout, "\(case_.partner).preview.json")
    }
}
