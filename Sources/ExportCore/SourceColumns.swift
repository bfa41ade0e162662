/// The columns of `customers` an export reads, in the order the source returns them.
///
/// `id` always comes first (records are ordered by it and disclosures are keyed by it). This type
/// is the only way to tell the source adapter what to read, and it cannot hold a never-export
/// column: a column that no mapping needs is never even SELECTed.
public struct SourceColumns: Sendable, Hashable {
    public let names: [String]

    /// Collects the distinct columns `fields` read, after `id`.
    ///
    /// - Throws: ``NeverExportViolation`` if any field names a never-export column or table,
    ///   ``UnknownColumn`` if a field is not a column of `customers`.
    public init(reading fields: [String]) throws {
        var names = ["id"]
        for field in fields where !names.contains(field) {
            if NeverExport.contains(field) { throw NeverExportViolation(name: field) }
            guard CustomerSchema.column(named: field) != nil else { throw UnknownColumn(name: field) }
            names.append(field)
        }
        self.names = names
    }

    /// Position of `name` in the row, or nil.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

/// An attempt to read a column or table that can never be exported.
public struct NeverExportViolation: Error, Sendable, CustomStringConvertible {
    public let name: String
    public var description: String { NeverExport.reason(for: name) }
}

/// A name that is not a column of `customers`.
public struct UnknownColumn: Error, Sendable, CustomStringConvertible {
    public let name: String
    public var description: String { "'\(name)' is not a column of customers" }
}
