import Foundation
import TestSupport
import Testing

/// notify.yaml: heartbeat pings and incident webhooks against a local receiver over TLS (the sandbox),
/// signatures checked with the `svix` library (Standard Webhooks), code nobody here wrote.
@Suite("Alerts: heartbeats and incident webhooks")
struct NotifyTests {
    static let signing = "whsec_" + Data("notify-signing-Capybara-2026!".utf8).base64EncodedString()

    static func routes(acmeFaults: [[String: Any]], hookFaults: [[String: Any]] = []) -> [String: Any] {
        var routes = DeliveryFixture.routes(acmeFaults: acmeFaults)
        routes["/ping/3f2a"] = ["ping": true]
        routes["/hooks/ops"] = ["signing_secret_env": "NOTIFY_SIGNING_SECRET", "faults": hookFaults]
        return routes
    }

    static func writeNotify(_ fixture: DeliveryFixture, heartbeat: String, webhook: String, events: String = "") throws {
        try TestFiles.write("""
            heartbeat:
              url: \(heartbeat)
              ca_file: \(Sandbox.pki("ca.pem"))
            webhook:
              url: \(webhook)
              ca_file: \(Sandbox.pki("ca.pem"))
              signing_secret_env: NOTIFY_SIGNING_SECRET
            \(events)
            """, to: fixture.config.appendingPathComponent("notify.yaml"))
    }

    struct Hook {
        let type: String
        let partner: String
        let id: String
        let body: [String: Any]
    }

    static func hooks(_ sandbox: Sandbox) throws -> [Hook] {
        try sandbox.requests().filter { $0.path == "/hooks/ops" }.map { request in
            let body = try #require(try JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any])
            return Hook(type: body["type"] as? String ?? "", partner: body["partner"] as? String ?? "",
                        id: request.headers["webhook-id"] ?? "", body: body)
        }
    }

    static func pings(_ sandbox: Sandbox) -> [String] {
        sandbox.requests().filter { $0.path.hasPrefix("/ping/3f2a") }.map { String($0.path.dropFirst("/ping/3f2a".count)) }
    }

    @Test("a failed run pings /fail and announces feed.incomplete once; a second failing run does not repeat it; the completing rerun announces it resolved and pings success; svix verifies every signature",
          arguments: LedgerKind.allCases)
    func incidentLifecycle(ledger: LedgerKind) throws {
        // Two runs whose first batch fails (two attempts each), then the partner is back.
        let faults: [[String: Any]] = Array(repeating: ["status": 503], count: 4)
        let sandbox = try Sandbox(routes: Self.routes(acmeFaults: faults),
                                  environment: DeliveryFixture.secrets.merging(["NOTIFY_SIGNING_SECRET": Self.signing]) { $1 })
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 10, maxRecords: 5, maxAttempts: 2, ledger: ledger)
        try Self.writeNotify(fixture, heartbeat: sandbox.url("/ping/3f2a"), webhook: sandbox.url("/hooks/ops"))
        let secret = ["NOTIFY_SIGNING_SECRET": Self.signing]
        #expect(try fixture.run(["validate"], extra: secret).status == 0)

        let first = try fixture.run(["run", "acme"], extra: secret)
        #expect(first.status == 1, "\(first.output)")
        #expect(Self.pings(sandbox) == ["/start", "/fail"], "\(Self.pings(sandbox))")
        var hooks = try Self.hooks(sandbox)
        #expect(hooks.filter { $0.type == "feed.incomplete" }.count == 1, "\(hooks.map(\.type))")
        let incident = try #require(hooks.first { $0.type == "feed.incomplete" })
        #expect(incident.partner == "acme" && incident.id.hasPrefix("inc_"))
        #expect(incident.body["owed"] as? Int == 2 && (incident.body["run"] as? String)?.hasPrefix("run_") == true, "\(incident.body)")
        #expect(Set(incident.body.keys) == ["type", "partner", "run", "since", "summary", "owed"])

        let second = try fixture.run(["run", "acme"], extra: secret)
        #expect(second.status == 1)
        #expect(Self.pings(sandbox) == ["/start", "/fail", "/start", "/fail"])
        hooks = try Self.hooks(sandbox)
        #expect(hooks.filter { $0.type == "feed.incomplete" }.count == 1, "not repeated while it lasts: \(hooks.map(\.type))")

        let rerun = try fixture.run(["rerun", "--failed"], extra: secret)
        #expect(rerun.status == 0, "\(rerun.output)")
        #expect(Self.pings(sandbox).suffix(2) == ["/start", ""], "a success ping after the rerun: \(Self.pings(sandbox))")
        hooks = try Self.hooks(sandbox)
        let resolved = hooks.filter { $0.type == "feed.incomplete.resolved" }
        #expect(resolved.count == 1 && resolved.first?.id == incident.id + "_resolved", "\(hooks.map(\.type))")
        #expect(Set(hooks.map(\.type)).isSubset(of: ["feed.incomplete", "delivery.exhausted", "feed.incomplete.resolved",
                                                     "delivery.exhausted.resolved"]), "\(hooks.map(\.type))")
        #expect(sandbox.requests().filter { $0.path == "/hooks/ops" }.allSatisfy { $0.signatureValid == true })

        // The receiver's own check, with the svix library: every body and its headers.
        let requests = sandbox.requests().filter { $0.path == "/hooks/ops" }
        let script = """
            import json, sys
            from svix.webhooks import Webhook
            hook = Webhook(sys.argv[1])
            entries = json.load(open(sys.argv[2]))
            for entry in entries:
                body = open(entry["body"], "rb").read()
                hook.verify(body, {k: v for k, v in entry["headers"].items() if k.startswith("webhook-")})
            assert len(entries) >= 2, entries
            print("verified", len(entries))
            """
        let listing = TestFiles.temporaryDirectory("svix").appendingPathComponent("hooks.json")
        try JSONSerialization.data(withJSONObject: requests.map { ["body": $0.bodyFile ?? "", "headers": $0.headers] }).write(to: listing)
        let verified = try Binary.run(["python3", "-c", script, Self.signing, listing.path], environment: [:],
                                      executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(verified.status == 0, "svix refused a signature: \(verified.output)")

        // Nothing secret in what was sent.
        for hook in hooks {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: hook.body), as: UTF8.self)
            for secret in DeliveryFixture.secrets.values where secret.count > 8 { #expect(!text.contains(secret)) }
            #expect(!text.contains("@example"), "no customer value")
        }
    }

    @Test("an unreachable heartbeat and a webhook receiver that stalls: the run still succeeds, and the notifications add at most 10 s")
    func downReceiver() throws {
        let sandbox = try Sandbox(routes: Self.routes(acmeFaults: [["status": 503], ["status": 503]], hookFaults: [["stall": 30]]),
                                  environment: DeliveryFixture.secrets.merging(["NOTIFY_SIGNING_SECRET": Self.signing]) { $1 })
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5, maxRecords: 5, maxAttempts: 2)
        let port = Self.closedPort()
        try Self.writeNotify(fixture, heartbeat: "https://localhost:\(port)/ping/3f2a", webhook: sandbox.url("/hooks/ops"))
        let started = Date()
        let run = try fixture.run(["run", "acme"], extra: ["NOTIFY_SIGNING_SECRET": Self.signing])
        let elapsed = Date().timeIntervalSince(started)
        #expect(run.status == 1, "the run's own outcome, not the notifications': \(run.output)")
        #expect(run.stderr.contains("notify: the heartbeat ping /start was not delivered"), "\(run.stderr)")
        #expect(run.stderr.contains("was not delivered") && run.stderr.contains("sent after the next run"), "\(run.stderr)")
        #expect(elapsed < 25, "the notifications took \(elapsed) s")
        let owed = try fixture.query("SELECT count(*) FROM incidents WHERE sent_at IS NULL")
        #expect(owed.first?[0] != "0", "an incident not delivered is sent after the next run: \(owed)")
    }

    /// A loopback port nothing listens on: bound, read, closed.
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("notify.yaml is checked by validate: https only, known incident types, a secret written inline; the signing secret not set is a warning, --strict fails")
    func validation() throws {
        let sandbox = try Sandbox(routes: Self.routes(acmeFaults: []), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 1)
        try Self.writeNotify(fixture, heartbeat: "http://hc.example/ping/1", webhook: sandbox.url("/hooks/ops"),
                             events: "  events: [feed.incomplete, feed.incomplet]")
        let broken = try fixture.run(["validate"])
        #expect(broken.status == 2)
        #expect(broken.stdout.contains("notify.yaml:2: heartbeat.url must be an https:// URL"), "\(broken.stdout)")
        #expect(broken.stdout.contains("notify.yaml:8: webhook.events: 'feed.incomplet' is not an incident type; did you mean "
                                       + "'feed.incomplete'?"), "\(broken.stdout)")
        // A run is not held back by it: it notifies nothing and says so.
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 0 && run.stderr.contains("notify.yaml has 2 problem(s)"), "\(run.output)")
        try Self.writeNotify(fixture, heartbeat: sandbox.url("/ping/3f2a"), webhook: sandbox.url("/hooks/ops"))
        let unset = try fixture.run(["validate"])
        #expect(unset.status == 0 && unset.stderr.contains("NOTIFY_SIGNING_SECRET"), "\(unset.output)")
        #expect(try fixture.run(["validate", "--strict"]).status == 2)
        #expect(try fixture.run(["validate", "--strict"], extra: ["NOTIFY_SIGNING_SECRET": Self.signing]).status == 0)
    }
}
