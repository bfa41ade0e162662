import Foundation
import Testing
import TestSupport

/// `--log-format json`: every line any command writes on standard error is one JSON object — logs,
/// warnings, fatal errors, usage errors and the lock-held message alike — so a collector (or `jq`)
/// never stops on a line of text.
@Suite("JSON log lines", .serialized)
struct LogFormatTests {
    /// Every non-empty line of `stderr` is a JSON object with a level and a message; returns them.
    static func objects(_ stderr: String, _ what: String) -> [[String: Any]] {
        var objects: [[String: Any]] = []
        for line in stderr.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["level"] is String, object["message"] is String else {
                Issue.record("\(what): a line of standard error is not a JSON log object: \(line)")
                continue
            }
            objects.append(object)
        }
        return objects
    }

    @Test("every command's standard error is JSON lines: logs at debug level, warnings, a failed delivery, usage and configuration errors, the lock held", arguments: LedgerKind.allCases)
    func everyLineIsJSON(ledger: LedgerKind) throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(acmeFaults: [["status": 400]]), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5, timeout: 10, ledger: ledger)
        let json = ["--log-format", "json", "--log-level", "debug"]
        var seen: [String: [[String: Any]]] = [:]
        func check(_ arguments: [String], extra: [String: String] = [:], status: Int32? = nil, as name: String? = nil) throws {
            let result = try fixture.run(arguments + json, extra: extra)
            if let status { #expect(result.status == status, "\(arguments): \(result.output)") }
            seen[name ?? arguments.joined(separator: " ")] = Self.objects(result.stderr, arguments.joined(separator: " "))
        }
        try check(["validate"], status: 0)
        try check(["preview", "acme", "--limit", "1"], status: 0)
        try check(["run", "acme"], status: 1)
        try check(["deliveries", "--failed"])
        try check(["rerun", "--failed"], status: 0)
        try check(["runs"], status: 0)
        try check(["runs", "show", "no-such-run"], status: 2)
        try check(["disclosures", "2"], status: 0)
        try check(["audit", "verify"], status: 2)
        try check(["prune", "--dry-run"], status: 0)
        try check(["run", "--no-such-flag"], status: 2)
        try check(["preview", "nobody"], status: 2)
        try check(["run", "acme"], extra: ["ACME_TOKEN": ""], status: 1, as: "no secret")
        #expect(seen["run acme"]?.contains { $0["level"] as? String == "error" || $0["level"] as? String == "debug" } == true,
                "the failed run logged: \(seen["run acme"] ?? [])")
        #expect(seen["run --no-such-flag"]?.first?["code"] as? String == "usage", "\(seen["run --no-such-flag"] ?? [])")
        #expect(seen["preview nobody"]?.first?["code"] as? String == "usage")
        // A partner that cannot run for a missing secret says so in the log, not only in the report.
        #expect(seen["no secret"]?.contains { ($0["message"] as? String ?? "").contains("ACME_TOKEN") } == true, "\(seen["no secret"] ?? [])")
        // The environment variable does the same without the option.
        let byEnvironment = try fixture.run(["runs", "show", ""], extra: ["PARTNER_EXPORT_LOG_FORMAT": "json"])
        #expect(byEnvironment.status == 2 && Self.objects(byEnvironment.stderr, "runs show ''").count == 1
                && byEnvironment.stderr.contains("a run id is needed"), "\(byEnvironment.output)")

        // The lock held by another run: the message a scheduler's log collector sees is JSON too.
        try sandbox.addFaults([["stall": 3]], path: "/feeds/acme")
        let first = try fixture.start(["run", "acme"])
        #expect(fixture.waitUntil("SELECT count(*) FROM attempts WHERE outcome IS NULL"))
        let second = try fixture.run(["run", "acme"] + json)
        #expect(second.status == 75, "\(second.output)")
        let held = Self.objects(second.stderr, "the lock held")
        #expect(held.contains { $0["code"] as? String == "lock.held" }, "\(second.stderr)")
        #expect(first.wait().status == 0)
    }
}
