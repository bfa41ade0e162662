import Foundation
import Postgres
import TestSupport
import Testing

/// The real binary with `--db postgresql://…` (a throw-away PostgreSQL cluster), delivering over real
/// TLS to the partner sandbox: what the partner holds is what the SQLite file would have given.
@Suite("PostgreSQL source end to end")
struct PostgresEndToEndTests {
    @Test("run from PostgreSQL: the partner holds every eligible customer; a withdrawal on the server becomes a notice")
    func runFromPostgres() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 25, acme: "mode: changes")
        let cluster = try PostgresCluster.shared()
        let admin = try cluster.createDatabase("pg_e2e")
        try PostgresFixtures.load(sqlite: fixture.database, into: admin)
        let url = cluster.url(database: String(admin.split(separator: "/").last!), user: PostgresCluster.reader)
        let options = ["--config", fixture.config.path, "--db", url, "--state", fixture.state]

        let preview = try Binary.run(["preview", "acme", "--json"] + options, environment: fixture.environment)
        #expect(preview.status == 0, "\(preview.output)")
        let counts = try JSONSerialization.jsonObject(with: Data(preview.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(counts["eligible"] as? Int == 25, "\(counts)")

        let first = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(first.status == 0, "\(first.output)")
        var view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(view.records.count == 25)
        let refs = Set((1...25).map { DeliveryFixture.acmeRef(Int64($0)) })
        #expect(Set(view.records.keys) == refs)

        // A withdrawal and an erasure on the server: the next run tells the partner to forget them.
        let writer = try Connection(url: admin)
        try writer.execute("UPDATE consents SET withdrawn_at = '2026-11-28T00:00:00Z' WHERE customer_id = 3")
        try writer.execute("DELETE FROM consents WHERE customer_id = 7; DELETE FROM customer_logs WHERE customer_id = 7; "
                           + "DELETE FROM customers WHERE id = 7")
        let second = try Binary.run(["run", "acme"] + options, environment: fixture.environment)
        #expect(second.status == 0, "\(second.output)")
        view = try sandbox.view(path: "/feeds/acme", key: "ref")
        #expect(Set(view.records.keys) == refs.subtracting([DeliveryFixture.acmeRef(3), DeliveryFixture.acmeRef(7)]))
        #expect(Set(view.notices.map(\.reason)) == ["consent_withdrawn", "erased"], "\(view.notices)")

        // Messages name the server without its password.
        let wrong = try Binary.run(["preview", "acme", "--config", fixture.config.path, "--state", fixture.state,
                                    "--db", "postgresql://exporter:hunter2@127.0.0.1:1/crm?connect_timeout=2"],
                                   environment: fixture.environment)
        #expect(wrong.status == 2, "\(wrong.output)")
        #expect(wrong.output.contains("postgresql://exporter:***@127.0.0.1:1/crm"), "\(wrong.output)")
        #expect(!wrong.output.contains("hunter2"))
        // A ledger in PostgreSQL that cannot be reached is named without its password (not taken for a
        // folder called "postgresql:"); libpq's keyword form is refused without being repeated.
        let state = try Binary.run(["runs", "--config", fixture.config.path, "--db", url,
                                    "--state", "postgresql://exporter:hunter2@127.0.0.1:1/ledger?connect_timeout=2"],
                                   environment: fixture.environment)
        #expect(state.status != 0, "\(state.output)")
        #expect(state.output.contains("cannot open the ledger postgresql://exporter:***@127.0.0.1:1/ledger"), "\(state.output)")
        #expect(!state.output.contains("hunter2"))
        #expect(!FileManager.default.fileExists(atPath: "postgresql:"))
        let keywords = try Binary.run(["runs", "--config", fixture.config.path, "--state", "host=127.0.0.1 password=hunter2"],
                                      environment: fixture.environment)
        #expect(keywords.status == 2, "\(keywords.output)")
        #expect(keywords.output.contains("keyword form is not accepted"), "\(keywords.output)")
        #expect(!keywords.output.contains("hunter2"))
    }
}
