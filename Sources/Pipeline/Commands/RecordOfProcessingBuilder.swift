import ExportConfig
import ExportCore
import Foundation
import Ledger
import Reports

/// Builds the record of processing (docs/privacy.md): the declarations from the configuration, the
/// disclosures from the ledger — read in one snapshot with the disclosure log's size and root — and the
/// signed checkpoint that names that log.
public struct RecordOfProcessingBuilder {
    public let configuration: Configuration
    public let audit: Audit
    /// How long payloads are kept here (`prune`'s defaults), for the retention line.
    public var retentionHere = "with prune's defaults: payloads deleted 30 days after they are sent, the disclosure record "
        + "kept 6 years (a prune scheduled with other periods changes this)"

    public init(configuration: Configuration, audit: Audit) {
        self.configuration = configuration
        self.audit = audit
    }

    public func build(ledger: any LedgerStore, since: String?, now: Date) throws -> RecordOfProcessing {
        let (state, totals) = try ledger.readSnapshot { (try ledger.logState(), try ledger.disclosureTotals(since: since)) }
        let checkpoint = try checkpoint(for: state, ledger: ledger, now: now)
        let catalog = configuration.catalog
        func category(of column: String) -> (key: String, special: Bool) {
            guard let entry = catalog?.entry(column) else { return ("uncatalogued: \(column)", false) }
            return (entry.category, entry.special)
        }
        let names = Set(configuration.partners.map(\.id)).union(totals.map(\.partner)).sorted()
        let partners = names.map { id -> RecordOfProcessing.Partner in
            let partner = configuration.partner(id)
            let terms = partner?.contract.terms ?? .none
            // Declared: what the contract allows (the mapping sends those fields or fewer), by category.
            var declared: [String: RecordOfProcessing.Category] = [:]
            for allowed in partner?.contract.allow ?? [] {
                let (key, special) = category(of: allowed.field)
                declared[key, default: .init(category: key, name: Taxonomy.categoryName(key), fields: [], special: special)]
                    .fields.append(allowed.field + " (" + allowed.forms.map(\.name).joined(separator: ", ") + ")")
            }
            // Disclosed: what the deliveries acknowledged in the period carried, by category, counted in records
            // (customer × delivery) that held a value of it; a deletion notice discloses the key field once more.
            var disclosed: [String: RecordOfProcessing.Category] = [:]
            var records = 0, deliveries = 0, notices = 0
            for total in totals where total.partner == id {
                records += total.records
                notices += total.notices
                if total.records > 0 || total.notices > 0 { deliveries += 1 }
                var carried: [String: Int] = [:]  // category → records with a value of it in this delivery
                for (index, field) in total.shape.enumerated() {
                    let values = index < total.fieldCounts.count ? total.fieldCounts[index] : total.records
                    let (key, special) = category(of: field.from)
                    let label = field.name + (field.form == "clear" ? "" : " (\(field.form))")
                    if values > 0 || (field.name == total.keyField && total.notices > 0) {
                        var entry = disclosed[key, default: .init(category: key, name: Taxonomy.categoryName(key), fields: [],
                                                                  special: special, records: 0)]
                        if !entry.fields.contains(label) { entry.fields.append(label) }
                        disclosed[key] = entry
                    }
                    carried[key] = max(carried[key] ?? 0, min(values, total.records))
                    if field.name == total.keyField && total.notices > 0, var entry = disclosed[key] {
                        entry.notices = (entry.notices ?? 0) + total.notices
                        disclosed[key] = entry
                    }
                }
                for (key, count) in carried where count > 0 {
                    if var entry = disclosed[key] {
                        entry.records = (entry.records ?? 0) + count
                        disclosed[key] = entry
                    }
                }
            }
            let declaredKeys = Set(declared.keys), disclosedKeys = Set(disclosed.keys)
            return RecordOfProcessing.Partner(
                partner: id, name: partner?.contract.name, configured: partner != nil, purpose: partner?.contract.purpose,
                dataUse: terms.dataUse, dataUseName: terms.dataUse.flatMap(Taxonomy.useName),
                legalBasis: terms.legalBasis?.rawValue, legalBasisArticle: terms.legalBasis?.article,
                dataSubjects: partner.map(subjects), recipient: terms.recipient, retentionAtPartnerDays: terms.retentionDays,
                retentionHere: retentionHere, security: partner.map(security) ?? [],
                declared: declared.values.sorted { $0.category < $1.category },
                disclosed: disclosed.values.sorted { $0.category < $1.category },
                records: records, deliveries: deliveries, deletionNotices: notices,
                declaredButNotSent: declaredKeys.subtracting(disclosedKeys).sorted(),
                sentButNotDeclared: disclosedKeys.subtracting(declaredKeys).sorted())
        }
        return RecordOfProcessing(generatedAt: Timestamps.rfc3339(now), since: since, controller: catalog?.controller,
                                  checkpoint: checkpoint, partners: partners)
    }

    /// Who the data is about: the customers the contract selects.
    private func subjects(_ partner: Partner) -> String {
        let contract = partner.contract
        let filters = contract.filters.map { " with \($0.column) in [\($0.values.joined(separator: ", "))]" }.joined()
        return "customers who consented to " + contract.consent.joined(separator: " and ") + filters
    }

    /// What protects the data on its way and at the partner, from the contract and the mapping.
    private func security(_ partner: Partner) -> [String] {
        let delivery = partner.contract.delivery
        var measures = ["HTTPS (TLS 1.2 or later, certificate verified)"]
        if delivery.clientCert != nil { measures.append("mutual TLS (a client certificate)") }
        if delivery.pinnedPublicKey != nil { measures.append("the partner's public key pinned") }
        if delivery.signingSecretEnv != nil { measures.append("every request signed (Standard Webhooks, HMAC-SHA256)") }
        switch delivery.auth {
        case .oauth2?: measures.append("OAuth 2.0 client credentials")
        case .apiKey?: measures.append("an API key")
        case .bearerTokenEnv?, .bearerTokenFile?: measures.append("a bearer token")
        case .basicPasswordEnv?, .basicPasswordFile?: measures.append("HTTP basic authentication")
        case nil: break
        }
        let pseudonymised = partner.mapping.fields.filter { $0.form == .pseudonym }.map(\.name)
        let hashed = partner.mapping.fields.filter { $0.form == .sha256 }.map(\.name)
        let coarse = partner.mapping.fields.filter { if case .prefix = $0.form { true } else { $0.form == .year || $0.form == .initial } }.map(\.name)
        if !pseudonymised.isEmpty { measures.append("pseudonymised with a key the partner does not hold: " + pseudonymised.joined(separator: ", ")) }
        if !hashed.isEmpty { measures.append("hashed (SHA-256): " + hashed.joined(separator: ", ")) }
        if !coarse.isEmpty { measures.append("coarsened (prefix, initial, year): " + coarse.joined(separator: ", ")) }
        measures.append("minimised to the fields the contract allows; every disclosure in a tamper-evident, signed log")
        return measures
    }

    /// The kept checkpoint naming exactly the log that was read (its signature checked); else one signed
    /// now (the log may have grown since the read: then it says so); nil without a signing key.
    private func checkpoint(for state: LogState, ledger: any LedgerStore, now: Date) throws -> RecordOfProcessing.Checkpoint? {
        guard let signer = try audit.signer() else { return nil }
        let read = Checkpoint(origin: Audit.origin(name: signer.name), size: state.tree.size, root: state.tree.root,
                              pruned: state.pruned.size)
        let root = Data(state.tree.root).base64EncodedString()
        if let kept = try audit.stored().last(where: { (try? Checkpoint(note: $0.note, verifier: signer.verifier))?.sameTree(as: read) ?? false }) {
            return .init(path: kept.path, entries: read.size, root: root, exact: true, note: nil)
        }
        guard let signed = try audit.checkpoint(ledger, at: now) else { return nil }
        let covered = try? Checkpoint(note: signed.note, verifier: signer.verifier)
        let exact = covered?.sameTree(as: read) ?? false
        return .init(path: signed.path, entries: read.size, root: root, exact: exact,
                     note: exact ? "signed now, for this record" : "signed after the read, at \(covered?.size ?? 0) entries: the log grew "
                        + "meanwhile (a run), and the checkpoint's tree extends the one read")
    }
}
