import ExportConfig
import ExportCore
import Foundation
import TestSupport
import Testing

/// `source.yaml`: loaded into a ``SourceModel``, every mistake named with file and line, and contracts
/// held to the fields it maps.
@Suite("source.yaml")
struct SourceFileTests {
    static let source = """
        customers:
          table: crm.clients
          key: client_id
          fields:
            first_name: given_name
            email: email_address
            postal_code: zip
            services: service_codes
            created_at: signed_up_at
            account_status: status
          never_read: [card_pan, notes]
        consents:
          table: marketing.permissions
          customer: client_id
          scope: purpose_code
          granted_at: opted_in_at
          withdrawn_at: opted_out_at
        """

    @Test("a valid source.yaml becomes the model the source reads through; without one, the canonical schema")
    func loads() throws {
        let result = try load(extra: ["source.yaml": Self.source])
        #expect(result.problems.isEmpty, "\(result.problems)")
        let model = result.configuration.source
        #expect(!model.isCanonical && model.customers.table == "crm.clients" && model.column("id") == "client_id")
        #expect(model.column("email") == "email_address" && model.column("phone") == nil)
        #expect(model.customers.neverRead == ["card_pan", "notes"] && model.mayNotRead("notes") && model.mayNotRead("card_number"))
        #expect(model.consents.withdrawnAt == "opted_out_at")
        #expect(result.configuration.partners.map(\.id) == ["acme"])
        #expect(try load().configuration.source == .canonical)
    }

    @Test("mistakes in source.yaml are named with their line", arguments: [
        ("    email: email_address\n", "    email: email_address\n    emial: mail\n", "emial", "is not a field contracts can name"),
        ("    email: email_address\n", "    email: card_pan\n", "email: card_pan", "is never read"),
        ("    email: email_address\n", "    email: email_address\n    phone: email_address\n", "phone: email_address", "already holds 'email'"),
        ("  key: client_id\n", "  key: client id\n", "key: client id", "is not a column name"),
        ("  table: crm.clients\n", "  table: a.b.c\n", "table: a.b.c", "is not a table name"),
        ("\n  withdrawn_at: opted_out_at", "", "table: marketing.permissions", "missing required key 'consents.withdrawn_at'"),
        ("    email: email_address\n", "    card_number: pan\n", "card_number: pan", "cardholder data"),
        ("  never_read: [card_pan, notes]\n", "  never_read: [card_pan, notes, client_id]\n", "never_read", "the key is always read"),
    ])
    func mistakes(old: String, new: String, at needle: String, words: String) throws {
        let text = Self.source.replacingOccurrences(of: old, with: new)
        #expect(text != Self.source)
        let result = try load(extra: ["source.yaml": text])
        let problem = result.problems.first { $0.file == "source.yaml" }
        #expect(problem?.line == line(of: needle, in: text), "\(result.problems)")
        #expect(problem?.message.contains(words) == true, "\(result.problems)")
        #expect(result.configuration.partners.isEmpty, "nothing runs with a broken source.yaml")
    }

    @Test("a contract allowing or filtering on a field source.yaml does not map: a problem at that line of the contract, the partner not loaded")
    func unmappedFields() throws {
        let withoutPostal = Self.source.replacingOccurrences(of: "    postal_code: zip\n", with: "")
        let result = try load(extra: ["source.yaml": withoutPostal])
        expectProblem(result, file: "partners/acme.yaml", line: line(of: "postal_code: [prefix3]", in: baseContract),
                      "allow: 'postal_code' is not mapped by source.yaml")
        let withoutStatus = Self.source.replacingOccurrences(of: "    account_status: status\n", with: "")
        let filtered = try load(extra: ["source.yaml": withoutStatus])
        expectProblem(filtered, file: "partners/acme.yaml", line: line(of: "account_status: [active]", in: baseContract),
                      "filters: 'account_status' is not mapped by source.yaml")
    }
}
