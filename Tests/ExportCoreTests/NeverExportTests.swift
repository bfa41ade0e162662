import ExportCore
import Testing

@Suite("Never-export columns")
struct NeverExportTests {
    @Test("no plan can read cardholder data or logs, whatever the contract and mapping say",
          arguments: ["card_number", "card_expiry", "customer_logs"])
    func planRefuses(_ column: String) {
        // Built directly, bypassing configuration validation: the core still refuses.
        let p = partner([MappedField(name: "x", from: column, form: .clear)])
        #expect(throws: PlanError.self) { try ExportPlan(partner: p, pseudonymKey: testKey) }
        #expect(throws: NeverExportViolation.self) { try SourceColumns(reading: ["email", column]) }
    }

    @Test("source columns start with id, are distinct and only what the mapping reads")
    func columns() throws {
        let columns = try SourceColumns(reading: ["email", "first_name", "email", "services"])
        #expect(columns.names == ["id", "email", "first_name", "services"])
        #expect(throws: UnknownColumn.self) { try SourceColumns(reading: ["shoe_size"]) }
    }
}
