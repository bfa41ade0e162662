import CustomerSource
import ExportConfig
import ExportCore

/// The customer database is shared configuration: a missing file (or a server that cannot be reached), a missing table or a column a
/// selected partner reads, or consents that are not one row per customer and scope, is checked before
/// anything starts, and stops the command (exit 2) with a sentence naming the path, the table, the
/// column or the first duplicate.
public enum SourceCheck {
    public static func check(_ path: String, model: SourceModel, partners: [Partner]) throws {
        try CustomerDatabase.checkPresent(path)
        let database = try CustomerDatabase(path: path, model: model)
        for partner in partners {
            let columns = (try? SourceColumns(reading: partner.mapping.fields.map(\.from)))?.names ?? []
            try database.checkColumns(columns + partner.contract.filters.map(\.column), partner: partner.id)
        }
        // Before a run starts (each partner's snapshot checks again, in the rows it reads).
        if !partners.isEmpty { try database.checkOneRowEach() }
    }
}
