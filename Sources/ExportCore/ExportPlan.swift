/// Everything resolved once per partner before the first record: the columns to read and the
/// minimiser that turns each row into exactly the fields and forms the mapping sends.
public struct ExportPlan: Sendable {
    public let partner: Partner
    /// What the source reads, `id` first; never a never-export column.
    public let columns: SourceColumns
    public let minimiser: Minimiser
    /// A fingerprint of everything that decides a record's bytes: format, XML names, each field's
    /// name, source, form, item and `required`, and (through a keyed hash, never the key) the
    /// pseudonym key. Two runs with equal fingerprints render equal records from equal rows.
    public let shape: String
    /// Where the key field (docs/design.md, "Change feeds and deletion notices") sits among the
    /// mapping's fields. A record without a key value is rejected: the partner could not be told to
    /// forget it. Every validated mapping has one (nil only for mappings built in code, which then
    /// cannot track changes).
    public let keyIndex: Int?

    /// - Parameter pseudonymKey: the bytes of the partner's pseudonym key; needed when a field uses
    ///   the `pseudonym` form.
    /// - Throws: ``PlanError``.
    public init(partner: Partner, pseudonymKey: [UInt8]?) throws {
        self.partner = partner
        let mapping = partner.mapping
        do {
            columns = try SourceColumns(reading: mapping.fields.map(\.from))
        } catch {
            throw PlanError.unreadableColumn("\(error)")
        }
        var pseudonymizer: Pseudonymizer?
        if mapping.fields.contains(where: { $0.form == .pseudonym }) {
            let variable = partner.contract.delivery.pseudonymKeyEnv ?? "pseudonym_key_env"
            guard let key = pseudonymKey else { throw PlanError.missingPseudonymKey(variable: variable) }
            do {
                pseudonymizer = try Pseudonymizer(key: key)
            } catch {
                throw PlanError.shortPseudonymKey(variable: variable, length: key.count)
            }
        }
        let keyIndex = mapping.keyIndex
        self.keyIndex = keyIndex
        var steps: [Minimiser.Step] = []
        for (position, field) in mapping.fields.enumerated() {
            guard let index = columns.index(of: field.from), let column = CustomerSchema.column(named: field.from) else {
                throw PlanError.unreadableColumn(field.from)
            }
            let schemaColumn = CustomerSchema.columns.firstIndex(of: column) ?? 0
            steps.append(Minimiser.Step(column: index, schemaColumn: schemaColumn, required: field.required || position == keyIndex,
                                        transform: .resolve(form: field.form, column: column)))
        }
        minimiser = Minimiser(steps: steps, pseudonymizer: pseudonymizer)
        var description = "format=\(partner.contract.format.rawValue)\nroot=\(mapping.root)\nrecord=\(mapping.record)\n"
            + "namespace=\(mapping.namespace ?? "")\n"
        for field in mapping.fields {
            description += "field=\(field.name)|\(field.from)|\(field.form.name)|\(field.item)|\(field.required)\n"
        }
        // The key and the mode decide what a feed carries too (which records, how notices name customers).
        description += "identity=\(mapping.key ?? "")\nmode=\(partner.contract.mode.rawValue)\n"
        if let pseudonymizer { description += "key=" + pseudonymizer.pseudonym(of: "partner-export/feed-shape") + "\n" }
        shape = HashForm.sha256(of: description)
    }
}

/// Why a partner's export cannot be planned. Messages name variables, never their values.
public enum PlanError: Error, Sendable, CustomStringConvertible {
    case missingPseudonymKey(variable: String)
    case shortPseudonymKey(variable: String, length: Int)
    case unreadableColumn(String)

    public var description: String {
        switch self {
        case .missingPseudonymKey(let variable):
            "the pseudonym key is missing: set the environment variable \(variable) (at least \(Pseudonymizer.minimumKeyLength) bytes)"
        case .shortPseudonymKey(let variable, let length):
            "the pseudonym key in \(variable) is \(length) bytes; it must be at least \(Pseudonymizer.minimumKeyLength)"
        case .unreadableColumn(let detail):
            "cannot read \(detail)"
        }
    }
}
