import ExportConfig
import ExportCore
import Foundation
import TestSupport
import Testing

/// catalog.yaml, policy.yaml and the contract's data_use / legal_basis (docs/privacy.md): checked on what
/// the mapping sends, each problem at the line that would send it.
@Suite("Privacy as code: catalog, policy, contract terms")
struct PrivacyConfigTests {
    static let catalog = PrivacyFixture.catalog

    static let policy = """
        rules:
          - name: no-financial-data-to-third-parties
            deny: {data_categories: [user.financial], data_uses: [marketing, third_party_sharing]}
          - name: contact-data-only-with-consent
            deny: {data_categories: [user.contact], data_uses: [marketing.advertising.third_party]}
            unless: {legal_basis: [consent]}
        """

    /// The base contract with terms.
    static func contract(use: String = "marketing.advertising.third_party", basis: String = "legitimate_interests") -> String {
        baseContract.replacingOccurrences(of: "format: json", with: "data_use: \(use)\nlegal_basis: \(basis)\nformat: json")
    }

    static func files(catalog: String = catalog, policy: String? = policy) -> [String: String] {
        var files = ["catalog.yaml": catalog]
        if let policy { files["policy.yaml"] = policy }
        return files
    }

    @Test("an e-mail sent as sha256 for a use the policy denies to user.contact: the mapping's line, the rule and its line; allowed on the basis the rule names")
    func denied() throws {
        let result = try load(partners: ["acme": Self.contract()], extra: Self.files())
        let problem = expectProblem(result, file: "mappings/acme.yaml", line: line(of: "email_sha256", in: baseMapping),
                                    "field 'email_sha256' sends email (user.contact.email, as sha256: pseudonymised",
                                    "policy.yaml:\(line(of: "contact-data-only-with-consent", in: Self.policy) ?? 0) rule "
                                    + "'contact-data-only-with-consent' denies unless legal_basis consent",
                                    "the contract says legitimate_interests", of: 2)
        #expect(problem != nil)
        #expect(result.problems.contains { $0.line == line(of: "area", in: baseMapping) && $0.message.contains("user.contact.address.postal_code") },
                "the postcode is contact data too: \(result.problems)")
        let allowed = try load(partners: ["acme": Self.contract(basis: "consent")], extra: Self.files())
        #expect(allowed.problems.isEmpty, "\(allowed.problems)")
        #expect(allowed.configuration.partner("acme")?.contract.terms.legalBasis == .consent)
        // Another use the rule does not name passes too.
        #expect(try load(partners: ["acme": Self.contract(use: "analytics.reporting")], extra: Self.files()).problems.isEmpty)
        // A broader label slips past nothing: a data use of `marketing` may be third-party advertising.
        #expect(!(try load(partners: ["acme": Self.contract(use: "marketing")], extra: Self.files())).problems.isEmpty)
        // Nor a broader category: an e-mail catalogued as `user.contact` is still denied for user.contact.email.
        let narrow = Self.policy.replacingOccurrences(of: "data_categories: [user.contact]", with: "data_categories: [user.contact.email]")
        let broad = Self.catalog.replacingOccurrences(of: "email: user.contact.email", with: "email: user.contact")
        #expect(try load(partners: ["acme": Self.contract()], extra: Self.files(catalog: broad, policy: narrow)).problems
            .contains { $0.message.contains("field 'email_sha256'") })
        // Explicit consent satisfies a rule that accepts consent.
        #expect(try load(partners: ["acme": Self.contract(basis: "explicit_consent")], extra: Self.files()).problems.isEmpty)
    }

    @Test("once a catalog exists: a column without a category, a contract without data_use or legal_basis, are errors")
    func catalogComplete() throws {
        let missing = Self.catalog.replacingOccurrences(of: "  services: user.behavior.purchase_history\n", with: "")
        expectProblem(try load(partners: ["acme": Self.contract(basis: "consent")], extra: Self.files(catalog: missing, policy: nil)),
                      file: "catalog.yaml", line: line(of: "columns:", in: missing), "'services' has no data category")
        expectProblem(try load(partners: ["acme": baseContract], extra: Self.files(policy: nil)), file: "partners/acme.yaml", line: 1,
                      "the contract has no data_use and legal_basis")
        // The never-export columns may be catalogued; a column that is not one is refused.
        let extra = Self.catalog + "\n  card_number: user.financial.credit_card\n  shoe_size: user.demographic"
        expectProblem(try load(partners: ["acme": Self.contract(basis: "consent")], extra: Self.files(catalog: extra, policy: nil)),
                      file: "catalog.yaml", line: line(of: "shoe_size", in: extra), "'shoe_size' is not a column of customers")
        // A policy without a catalog means nothing.
        let policyAlone = try load(partners: ["acme": baseContract], extra: ["policy.yaml": Self.policy])
        #expect(policyAlone.problems.contains { $0.file == "policy.yaml" && $0.message.contains("add catalog.yaml") }, "\(policyAlone.problems)")
    }

    @Test("an unknown category, use or basis names the nearest known one, at its line")
    func unknownNames() throws {
        let catalog = Self.catalog.replacingOccurrences(of: "email: user.contact.email", with: "email: user.contact.emial")
        expectProblem(try load(partners: ["acme": Self.contract(basis: "consent")], extra: Self.files(catalog: catalog)),
                      file: "catalog.yaml", line: line(of: "emial", in: catalog), "'user.contact.emial' is not a data category",
                      "did you mean 'user.contact.email'?")
        let contract = Self.contract(use: "marketing.advertising.thirdparty", basis: "consent")
        expectProblem(try load(partners: ["acme": contract], extra: Self.files()), file: "partners/acme.yaml",
                      line: line(of: "data_use", in: contract), "did you mean 'marketing.advertising.third_party'?")
        let basis = Self.contract(basis: "consnet")
        expectProblem(try load(partners: ["acme": basis], extra: Self.files()), file: "partners/acme.yaml",
                      line: line(of: "legal_basis", in: basis), "did you mean 'consent'?")
        let policy = Self.policy.replacingOccurrences(of: "data_uses: [marketing, third_party_sharing]",
                                                      with: "data_uses: [marketting, third_party_sharing]")
        expectProblem(try load(partners: ["acme": Self.contract(basis: "consent")], extra: Self.files(policy: policy)),
                      file: "policy.yaml", line: line(of: "marketting", in: policy), "did you mean 'marketing'?")
    }

    @Test("a special category (Art. 9) goes only on explicit consent, whatever the policy")
    func special() throws {
        let catalog = Self.catalog.replacingOccurrences(of: "services: user.behavior.purchase_history",
                                                        with: "services: {category: user.behavior.purchase_history, special: true}")
        expectProblem(try load(partners: ["acme": Self.contract(use: "analytics.reporting", basis: "consent")],
                               extra: Self.files(catalog: catalog, policy: nil)),
                      file: "mappings/acme.yaml", line: line(of: "from: services", in: baseMapping), "special category of data (GDPR Art. 9)",
                      "only on legal_basis explicit_consent")
        #expect(try load(partners: ["acme": Self.contract(use: "analytics.reporting", basis: "explicit_consent")],
                         extra: Self.files(catalog: catalog, policy: nil)).problems.isEmpty)
        // A category the taxonomy itself calls special is special without being marked.
        let health = Self.catalog.replacingOccurrences(of: "services: user.behavior.purchase_history", with: "services: user.health_and_medical")
        #expect(try load(partners: ["acme": Self.contract(use: "analytics.reporting", basis: "consent")],
                         extra: Self.files(catalog: health, policy: nil)).problems.contains { $0.message.contains("Art. 9") })
    }

    @Test("the shipped catalog, policy and contracts hold together, and every taxonomy name the project ships is fideslang's own")
    func shippedNames() throws {
        let shipped = ConfigLoader.load(from: TestFiles.packageRoot)
        #expect(shipped.problems.isEmpty, "\(shipped.problems)")
        #expect(shipped.configuration.catalog != nil && shipped.configuration.policy?.rules.isEmpty == false)
        #expect(shipped.configuration.partners.allSatisfy { $0.contract.terms.dataUse != nil && $0.contract.terms.legalBasis != nil })
        // Checked against the published taxonomy itself (the fideslang package), not against our copy of it.
        let names = Taxonomy.dataCategories.map { "c " + $0.key } + Taxonomy.dataUses.map { "u " + $0.key }
            + Taxonomy.specialCategories.map { "c " + $0 }
        let list = TestFiles.temporaryDirectory("taxonomy").appendingPathComponent("names.txt")
        try names.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)
        let script = """
            import sys
            from fideslang.default_taxonomy import DEFAULT_TAXONOMY as t
            categories = {c.fides_key for c in t.data_category}
            uses = {u.fides_key for u in t.data_use}
            missing = [line for line in open(sys.argv[1]).read().split("\\n")
                       if not ((line[2:] in categories) if line.startswith("c ") else (line[2:] in uses))]
            print("missing:", missing)
            sys.exit(1 if missing else 0)
            """
        let checked = try Binary.run(["python3", "-c", script, list.path], executable: URL(fileURLWithPath: "/usr/bin/env"))
        #expect(checked.status == 0, "\(checked.output)")
    }
}
