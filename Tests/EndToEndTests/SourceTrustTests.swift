import ExportCore
import Foundation
import SQLite
import Testing
import TestSupport

/// What a careless or hostile source does to the promises, with the real binary: a duplicate
/// consent row, a key that changed under the partner's holdings.
@Suite("A source that breaks its own rules", .serialized)
struct SourceTrustTests {
    @Test("a consents table without its key, holding a withdrawn and an active row for one customer: preview and run refuse it (exit 2), nothing is sent")
    func duplicateConsentRow() throws {
        let sandbox = try Sandbox(routes: DeliveryFixture.routes(), environment: DeliveryFixture.secrets)
        let fixture = try DeliveryFixture(sandbox: sandbox, customers: 5)
        try fixture.customers().execute("""
            CREATE TABLE c2 (customer_id INTEGER NOT NULL, scope TEXT NOT NULL, granted_at TEXT NOT NULL, withdrawn_at TEXT, source TEXT);
            INSERT INTO c2 SELECT customer_id, scope, granted_at, withdrawn_at, source FROM consents;
            DROP TABLE consents; ALTER TABLE c2 RENAME TO consents;
            UPDATE consents SET withdrawn_at = '2026-01-01T00:00:00Z' WHERE customer_id = 4 AND scope = 'partner-offers';
            INSERT INTO consents VALUES (4, 'partner-offers', '2026-02-01T00:00:00Z', NULL, 'web');
            """)
        let preview = try fixture.run(["preview", "acme"])
        #expect(preview.status == 2 && preview.stderr.contains("consents holds 2 rows for customer 4 and scope \"partner-offers\""),
                "\(preview.output)")
        let run = try fixture.run(["run", "acme"])
        #expect(run.status == 2 && run.stderr.contains("customer 4"), "\(run.output)")
        #expect(sandbox.requests().isEmpty, "nothing was sent")
        // The duplicate removed, the withdrawal decides: customer 4 is not sent.
        try fixture.customers().execute("DELETE FROM consents WHERE customer_id = 4 AND withdrawn_at IS NULL AND scope = 'partner-offers'")
        let clean = try fixture.run(["run", "acme"])
        #expect(clean.status == 0, "\(clean.output)")
        let refs = sandbox.requests().compactMap(\.body).compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            .flatMap { $0["records"] as? [[String: Any]] ?? [] }.compactMap { $0["ref"] as? String }
        #expect(refs.count == 4 && !refs.contains(DeliveryFixture.acmeRef(4)), "\(refs)")
    }
}
