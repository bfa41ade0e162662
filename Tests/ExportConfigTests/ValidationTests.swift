import ExportConfig
import ExportCore
import Foundation
import TestSupport
import Testing

/// One test per rejection class of docs/design.md ("Validation"); each checks the file, the line and the sentence.
@Suite("Configuration validation")
struct ValidationTests {
    @Test("the base configuration is valid")
    func baseIsValid() throws {
        let result = try load()
        #expect(result.problems.isEmpty, "\(result.problems)")
        let partner = try #require(result.configuration.partner("acme"))
        #expect(partner.mapping.fields.map(\.name) == ["ref", "email_sha256", "firstName", "area", "services"])
        #expect(partner.contract.delivery.batch == BatchLimits(maxRecords: 100, maxBytes: 8_388_608))
        #expect(partner.contract.filters == [Filter(column: "account_status", values: ["active"])])
    }

    @Test("the shipped example configuration is valid")
    func shippedIsValid() {
        let result = ConfigLoader.load(from: TestFiles.packageRoot)
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.configuration.partners.map(\.id) == ["acme-offers", "globex-programs", "initech-insights"])
    }

    @Test("unknown keys, at every level, with a suggestion")
    func unknownKeys() throws {
        let contract = baseContract.replacingOccurrences(of: "purpose: Offers", with: "purpose: Offers\nconsents: [x]")
        let result = try load(partners: ["acme": contract])
        expectProblem(result, file: "partners/acme.yaml", line: line(of: "consents:", in: contract), "unknown key 'consents'",
                      "did you mean 'consent'")

        let nested = baseContract.replacingOccurrences(of: "  batch: {max_records: 100}", with: "  batch: {max_record: 100}")
        expectProblem(try load(partners: ["acme": nested]), file: "partners/acme.yaml", line: line(of: "max_record:", in: nested),
                      "unknown key 'delivery.batch.max_record'")

        let mapping = baseMapping.replacingOccurrences(of: "{name: ref, from: id, form: pseudonym}",
                                                       with: "{name: ref, from: id, from_: x, form: pseudonym}")
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: line(of: "from_", in: mapping),
                      "unknown key 'fields[].from_'")
    }

    @Test("a mapping field whose form the contract does not list")
    func formNotAllowed() throws {
        let mapping = baseMapping.replacingOccurrences(of: "{name: firstName, from: first_name}",
                                                       with: "{name: firstName, from: first_name, form: prefix2}")
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: line(of: "prefix2", in: mapping),
                      "allows 'first_name' only as clear, initial, not as 'prefix2'")
    }

    @Test("a mapping field the contract does not allow at all")
    func fieldNotAllowed() throws {
        let mapping = baseMapping + "\n  - {name: surname, from: last_name}"
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: line(of: "surname", in: mapping),
                      "does not allow 'last_name'", "never more")
    }

    @Test("cardholder data and logs are refused wherever they appear, whatever the contract says",
          arguments: ["card_number", "card_expiry", "customer_logs"])
    func neverExport(_ name: String) throws {
        // In the contract's allow list.
        let contract = baseContract.replacingOccurrences(of: "  created_at: [year]", with: "  created_at: [year]\n  \(name): [clear]")
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "\(name):", in: contract),
                      name, "can never be exported")
        // In a mapping, even when the contract allows it: both files are refused.
        let mapping = baseMapping + "\n  - {name: pan, from: \(name)}"
        let both = try load(partners: ["acme": contract], mappings: ["acme": mapping])
        expectProblem(both, file: "mappings/acme.yaml", line: line(of: "pan", in: mapping), name, "can never be exported", of: 2)
        expectProblem(both, file: "partners/acme.yaml", line: line(of: "\(name):", in: contract), name, of: 2)
    }

    @Test("a contract with no consent scope")
    func noConsent() throws {
        let empty = baseContract.replacingOccurrences(of: "consent: [partner-offers]", with: "consent: []")
        expectProblem(try load(partners: ["acme": empty]), file: "partners/acme.yaml", line: line(of: "consent: []", in: empty),
                      "names no scope")
        let missing = baseContract.replacingOccurrences(of: "consent: [partner-offers]\n", with: "")
        expectProblem(try load(partners: ["acme": missing]), file: "partners/acme.yaml", line: 1, "missing required key 'consent'")
    }

    @Test("a field that is not a column of customers")
    func notAColumn() throws {
        let contract = baseContract.replacingOccurrences(of: "  created_at: [year]", with: "  created_at: [year]\n  shoe_size: [clear]")
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "shoe_size", in: contract),
                      "'shoe_size' is not a column of customers")
        let mapping = baseMapping + "\n  - {name: shoe, from: shoe_size}"
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: line(of: "shoe_size", in: mapping),
                      "'shoe_size' is not a column of customers")
    }

    @Test("a form that does not apply to the field's type")
    func formByType() throws {
        let contract = baseContract.replacingOccurrences(of: "  email: [sha256]", with: "  email: [sha256, year]")
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "[sha256, year]", in: contract),
                      "the form 'year' does not apply to email")
        let lists = baseContract.replacingOccurrences(of: "  services: [clear]", with: "  services: [clear, sha256]")
        expectProblem(try load(partners: ["acme": lists]), file: "partners/acme.yaml", line: line(of: "[clear, sha256]", in: lists),
                      "'sha256' does not apply to services")
        let mapping = baseMapping.replacingOccurrences(of: "{name: services, from: services}",
                                                       with: "{name: services, from: services, form: prefix3}")
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: line(of: "services, form: prefix3", in: mapping),
                      "'prefix3' does not apply to services")
    }

    @Test("a pseudonym form without pseudonym_key_env")
    func pseudonymWithoutKey() throws {
        let contract = baseContract.replacingOccurrences(of: "  pseudonym_key_env: ACME_PSEUDONYM_KEY\n", with: "")
        expectProblem(try load(partners: ["acme": contract]), file: "mappings/acme.yaml",
                      line: line(of: "form: pseudonym", in: baseMapping), "pseudonym_key_env")
    }

    @Test("a filter on a never-export column", arguments: ["card_number", "card_expiry"])
    func neverExportFilter(_ column: String) throws {
        let contract = baseContract.replacingOccurrences(of: "  account_status: [active]", with: "  \(column): [\"4111111111111111\"]")
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "\(column):", in: contract),
                      "not even to select customers")
    }

    @Test("a filter on something that is not a filterable column")
    func badFilter() throws {
        let contract = baseContract.replacingOccurrences(of: "  account_status: [active]", with: "  tier: [gold]\n  services: [tv]")
        let result = try load(partners: ["acme": contract])
        expectProblem(result, file: "partners/acme.yaml", line: line(of: "tier:", in: contract), "'tier' is not a column", of: 2)
        expectProblem(result, file: "partners/acme.yaml", line: line(of: "services: [tv]", in: contract), "only text and integer", of: 2)
    }

    @Test("a URL that is not https://", arguments: ["http://feeds.acme.example/in", "ftp://x.example/", "feeds.acme.example/in"])
    func notHTTPS(_ url: String) throws {
        let contract = baseContract.replacingOccurrences(of: "https://feeds.acme.example/in", with: url)
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "url:", in: contract),
                      "must be an https:// URL")
    }

    @Test("secrets written inline are refused and never echoed")
    func inlineSecrets() throws {
        let secret = "sk_live_Q2hhbmdlTWVOb3c4NzY1NDMyMQ"
        // (what is replaced, by what, words of the message, how many problems: an inline secret that replaced the only
        // auth key also leaves delivery.auth without one)
        let cases: [(String, String, String, Int)] = [
            ("    bearer_token_env: ACME_TOKEN", "    bearer_token: \(secret)", "name it with 'bearer_token_env'", 2),
            ("  pseudonym_key_env: ACME_PSEUDONYM_KEY", "  pseudonym_key_env: ACME_PSEUDONYM_KEY\n  pseudonym_key: \(secret)",
             "'pseudonym_key_env' (an environment variable)", 1),
            ("  pseudonym_key_env: ACME_PSEUDONYM_KEY", "  pseudonym_key_env: ACME_PSEUDONYM_KEY\n  signing_secret: whsec_\(secret)",
             "'signing_secret_env'", 1),
            ("    bearer_token_env: ACME_TOKEN", "    bearer_token_env: \(secret)", "must name an environment variable", 2),
            ("  batch: {max_records: 100}", "  batch: {max_records: 100}\n  headers: {Authorization: \"Bearer \(secret)\"}",
             "Authorization", 1),
            ("  batch: {max_records: 100}", "  batch: {max_records: 100}\n  headers: {X-Api-Key: \(secret)}", "X-Api-Key", 1),
            ("https://feeds.acme.example/in", "https://cyrus:\(secret)@feeds.acme.example/in", "basic_password_env", 1),
            ("https://feeds.acme.example/in", "https://feeds.acme.example/in?token=\(secret)", "query parameter 'token'", 1),
        ]
        for (from, to, words, total) in cases {
            let contract = baseContract.replacingOccurrences(of: from, with: to)
            let result = try load(partners: ["acme": contract])
            let problem = expectProblem(result, file: "partners/acme.yaml", line: line(of: secret, in: contract), words, of: total)
            #expect(!result.problems.contains { $0.message.contains("url_env") || $0.message.contains("pseudonym_key_file") },
                    "never a key that does not exist")
            #expect(problem != nil, "\(words)")
            for problem in result.problems { #expect(!problem.description.contains(secret), "secret echoed: \(problem)") }
        }
    }

    @Test("a broken YAML line is reported without echoing the line")
    func yamlSyntax() throws {
        let secret = "sk_live_DoNotEcho123456"
        let contract = baseContract.replacingOccurrences(of: "purpose: Offers", with: "purpose: Offers\nname2: [\"\(secret)\"")
        let result = try load(partners: ["acme": contract])
        let problem = try #require(result.problems.first { $0.file == "partners/acme.yaml" })
        #expect(problem.message.contains("not valid YAML"))
        #expect(problem.line != nil)
        #expect(!problem.description.contains(secret))
        let duplicate = baseContract + "\nformat: xml"
        expectProblem(try load(partners: ["acme": duplicate]), file: "partners/acme.yaml", line: line(of: "format: json", in: duplicate),
                      "'format'", "twice")
    }

    @Test("the key: by default the first field from id; a mapping without one, or with an unstable one, is refused at its line")
    func keys() throws {
        let valid = try load()
        #expect(valid.problems.isEmpty && valid.configuration.partners.first?.mapping.key == "ref")
        let byEmail = baseMapping.replacingOccurrences(of: "partner: acme", with: "partner: acme\nkey: email_sha256")
        let email = try load(mappings: ["acme": byEmail])
        #expect(email.problems.isEmpty && email.configuration.partners.first?.mapping.key == "email_sha256", "\(email.problems)")

        let noID = baseMapping.replacingOccurrences(of: "  - {name: ref, from: id, form: pseudonym}\n", with: "")
        expectProblem(try load(mappings: ["acme": noID]), file: "mappings/acme.yaml", line: line(of: "fields:", in: noID),
                      "the mapping has no key", "key:")
        let unknown = baseMapping.replacingOccurrences(of: "partner: acme", with: "partner: acme\nkey: customer")
        expectProblem(try load(mappings: ["acme": unknown]), file: "mappings/acme.yaml", line: line(of: "key: customer", in: unknown),
                      "key 'customer' is not an output name", "ref, email_sha256")
        let wrongColumn = baseMapping.replacingOccurrences(of: "partner: acme", with: "partner: acme\nkey: firstName")
        expectProblem(try load(mappings: ["acme": wrongColumn]), file: "mappings/acme.yaml",
                      line: line(of: "key: firstName", in: wrongColumn), "comes from first_name", "id or email")
        let unstable = baseMapping.replacingOccurrences(of: "partner: acme", with: "partner: acme\nkey: area")
            .replacingOccurrences(of: "{name: area, from: postal_code, form: prefix3}", with: "{name: area, from: email, form: prefix3}")
        let contract = baseContract.replacingOccurrences(of: "email: [sha256]", with: "email: [sha256, prefix3]")
        expectProblem(try load(partners: ["acme": contract], mappings: ["acme": unstable]), file: "mappings/acme.yaml",
                      line: line(of: "key: area", in: unstable), "sent as prefix3, which is not stable")
    }

    @Test("mode and max_deletions_percent: snapshot or changes, a share from 0 to 100")
    func modes() throws {
        let changes = baseContract + "\nmode: changes\nmax_deletions_percent: 2.5"
        let loaded = try load(partners: ["acme": changes])
        #expect(loaded.problems.isEmpty, "\(loaded.problems)")
        #expect(loaded.configuration.partners.first?.contract.mode == .changes)
        #expect(loaded.configuration.partners.first?.contract.maxDeletionsPercent == 2.5)
        let badMode = baseContract + "\nmode: delta"
        expectProblem(try load(partners: ["acme": badMode]), file: "partners/acme.yaml", line: line(of: "mode: delta", in: badMode),
                      "mode must be snapshot or changes")
        let badShare = baseContract + "\nmax_deletions_percent: 120"
        expectProblem(try load(partners: ["acme": badShare]), file: "partners/acme.yaml",
                      line: line(of: "max_deletions_percent", in: badShare), "between 0 and 100")
    }

    @Test("duplicate output names")
    func duplicateNames() throws {
        let mapping = baseMapping + "\n  - {name: firstName, from: first_name, form: initial}"
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml",
                      line: line(of: "form: initial", in: mapping), "'firstName' is used twice",
                      "first at line \(line(of: "{name: firstName", in: mapping) ?? 0)")
    }

    @Test("an id or partner that differs from the file name")
    func namesDiffer() throws {
        let contract = baseContract.replacingOccurrences(of: "id: acme", with: "id: acme-ltd")
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: 1, "id 'acme-ltd' differs from the file name")
        let mapping = baseMapping.replacingOccurrences(of: "partner: acme", with: "partner: acme2")
        expectProblem(try load(mappings: ["acme": mapping]), file: "mappings/acme.yaml", line: 1, "partner 'acme2' differs")
    }

    @Test("a mapping without a contract, and a contract without a mapping")
    func unpaired() throws {
        let orphanMapping = try load(partners: [:])
        expectProblem(orphanMapping, file: "mappings/acme.yaml", line: 1, "no contract partners/acme.yaml")
        let orphanContract = try load(mappings: [:])
        expectProblem(orphanContract, file: "partners/acme.yaml", line: 1, "no mapping mappings/acme.yaml")
    }

    @Test("xsd only with XML, and only a file that exists")
    func xsd() throws {
        let json = baseContract.replacingOccurrences(of: "format: json", with: "format: json\nxsd: schemas/x.xsd")
        expectProblem(try load(partners: ["acme": json], extra: ["schemas/x.xsd": "<x/>"]), file: "partners/acme.yaml",
                      line: line(of: "xsd:", in: json), "xsd applies to XML feeds only")
        let xml = baseContract.replacingOccurrences(of: "format: json", with: "format: xml\nxsd: schemas/missing.xsd")
        expectProblem(try load(partners: ["acme": xml]), file: "partners/acme.yaml", line: line(of: "xsd:", in: xml),
                      "not a readable file")
    }

    @Test("XML element names must be valid")
    func xmlNames() throws {
        let contract = baseContract.replacingOccurrences(of: "format: json", with: "format: xml")
        let mapping = baseMapping.replacingOccurrences(of: "{name: area,", with: "{name: 2area,")
        expectProblem(try load(partners: ["acme": contract], mappings: ["acme": mapping]), file: "mappings/acme.yaml",
                      line: line(of: "2area", in: mapping), "'2area' is not a valid XML element name")
    }

    @Test("a bad schedule names the problem")
    func schedule() throws {
        let contract = baseContract + "\nschedule: \"0 25 * * *\""
        expectProblem(try load(partners: ["acme": contract]), file: "partners/acme.yaml", line: line(of: "schedule", in: contract),
                      "hour field")
    }

    @Test(".yml files are reported, never silently ignored")
    func ymlFiles() throws {
        let result = try load(extra: ["partners/other.yml": "id: other"])
        #expect(result.problems.contains { $0.file == "partners/other.yml" && $0.message.contains("rename to .yaml") })
    }
}
