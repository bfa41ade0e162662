@testable import CustomerSource
import ExportCore
import Foundation
import Pipeline
import SQLite
import TestSupport
import Testing

@Suite("Selection is fail-closed")
struct SelectionTests {
    /// Customers 1…9 with every consent situation.
    func database() throws -> String {
        let path = TestFiles.temporaryDirectory("select").appendingPathComponent("c.sqlite").path
        try Fixtures.write(path, customers: [
            .init(id: 1), .init(id: 2), .init(id: 3), .init(id: 4), .init(id: 5), .init(id: 6),
            .init(id: 7, ["account_status": .text("suspended")]), .init(id: 8, ["region": .null]), .init(id: 9),
        ], consents: [
            .init(1, "offers"), .init(1, "programs"),                      // eligible
            .init(2, "programs"),                                          // no offers consent
            .init(3, "offers", withdrawnAt: .text("2025-06-01T00:00:00Z")), .init(3, "programs"),  // withdrawn
            .init(4, "offers", withdrawnAt: .text("")), .init(4, "programs"),  // withdrawn_at set, even empty: fail closed
            .init(5, "offers"),                                            // second scope missing
            .init(6, "offers"), .init(6, "programs", withdrawnAt: .text("2025-01-01T00:00:00Z")),
            .init(7, "offers"), .init(7, "programs"),                      // filtered by status
            .init(8, "offers"), .init(8, "programs"),                      // NULL never matches a filter
            .init(9, "OFFERS"), .init(9, "programs"),                      // scopes are exact
        ])
        return path
    }

    let partner = makePartner(consent: ["offers", "programs"],
                              filters: [Filter(column: "account_status", values: ["active"]),
                                        Filter(column: "region", values: ["England", "Bayern"])],
                              fields: [MappedField(name: "e", from: "email", form: .sha256)])

    /// Reads every customer once, classified, as a preview does.
    func classify(_ path: String) throws -> (counts: EligibilityCounts, eligible: [Int64]) {
        let source = try CustomerDatabase(path: path)
        let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
        let reader = try ChunkedReader(source, plan: plan, range: .all, classify: true)
        defer { reader.stop() }
        var eligible: [Int64] = []
        while let (_, chunk) = try reader.nextNumbered() {
            chunk.withRows { rows in for i in 0..<rows.count { eligible.append(rows[i].customerID) } }
            reader.recycle(chunk)
        }
        let (customers, excluded) = reader.classification
        return (EligibilityCounts(customers: customers, eligible: eligible.count,
                                  excluded: zip(ExclusionReason.reasons(for: partner.contract), excluded).map { ($0, $1) }), eligible)
    }

    @Test("eligible only when every scope is in force and every filter matches; excluded counted by first reason")
    func counts() throws {
        let (counts, eligible) = try classify(try database())
        #expect(eligible == [1])
        #expect(counts.customers == 9)
        #expect(counts.eligible == 1)
        #expect(counts.excluded.map(\.reason.key) == ["no_consent:offers", "consent_withdrawn:offers", "no_consent:programs",
                                                       "consent_withdrawn:programs", "filter:account_status", "filter:region"])
        #expect(counts.excluded.map(\.count) == [2, 2, 1, 1, 1, 1])
        #expect(counts.excludedTotal + counts.eligible == counts.customers)
    }

    @Test("the cursor yields exactly the eligible customers, in id order")
    func cursor() throws {
        let path = try database()
        let loose = makePartner(consent: ["offers"], fields: [MappedField(name: "e", from: "email", form: .sha256)])
        let (found, tally) = try batches(loose, path)
        #expect(found.flatMap(\.customerIDs) == [1, 5, 6, 7, 8])
        #expect(tally.eligible == 5)
        let (strict, _) = try batches(partner, path)
        #expect(strict.flatMap(\.customerIDs) == [1])
    }

    @Test("only the columns the mapping needs are read: never card data, logs or unmapped columns")
    func columnsRead() throws {
        let source = try CustomerDatabase(path: try database())
        var reads: Set<String> = []
        try #require(source.sqlite).observeReads { table, column in reads.insert("\(table).\(column)") }
        let plan = try ExportPlan(partner: partner, pseudonymKey: testKey)
        _ = try ChunkedReader(source, plan: plan, range: .all, classify: false)
        _ = try ChunkedReader(source, plan: plan, range: .all, classify: true)
        #expect(!reads.isEmpty)
        let customerColumns = Set(reads.filter { $0.hasPrefix("customers.") })
        #expect(customerColumns == ["customers.id", "customers.email", "customers.account_status", "customers.region"])
        #expect(!reads.contains { $0.contains("card_") || $0.hasPrefix("customer_logs.") })
    }
}
