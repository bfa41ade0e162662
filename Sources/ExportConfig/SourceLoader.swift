import ExportCore
import Foundation
import Yams

/// `source.yaml` → ``SourceModel``: where the logical fields live in the company's own tables
/// (docs/design.md, "Your own schema"). Checked on its own here; against the database by
/// `validate --db` and before every read (CustomerSource).
struct SourceLoader {
    static let file = "source.yaml"
    static let topKeys = ["customers", "consents"]
    static let customerKeys = ["table", "key", "fields", "never_read"]
    static let consentKeys = ["table", "customer", "scope", "granted_at", "withdrawn_at"]

    var diagnostics = Diagnostics(file: SourceLoader.file)

    mutating func load(_ root: Node) -> SourceModel? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)
        guard let customersNode = map.value("customers") else {
            diagnostics.report(map.line, "missing required key 'customers' (table, key, fields)")
            return nil
        }
        guard let consentsNode = map.value("consents") else {
            diagnostics.report(map.line, "missing required key 'consents' (table, customer, scope, granted_at, withdrawn_at)")
            return nil
        }
        let customers = loadCustomers(customersNode)
        let consents = loadConsents(consentsNode)
        guard let customers, let consents, diagnostics.problems.isEmpty else { return nil }
        return SourceModel(customers: customers, consents: consents)
    }

    private mutating func loadCustomers(_ node: Node) -> SourceModel.Customers? {
        guard let map = YAMLMap(node, path: "customers", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.customerKeys, diagnostics: &diagnostics)
        let table = map.requiredString("table", diagnostics: &diagnostics)
        let key = map.requiredString("key", diagnostics: &diagnostics)
        if let table { checkTableName(table, line: map.value("table")?.mark?.line) }
        if let key {
            checkColumnName(key, line: map.value("key")?.mark?.line)
            if NeverExport.contains(key.lowercased()) {
                diagnostics.report(map.value("key")?.mark?.line, "customers.key: \(NeverExport.reason(for: key.lowercased()))")
            }
        }
        var neverRead: Set<String> = []
        var neverReadLines: [String: Int] = [:]
        if let node = map.value("never_read"), let items = map.stringList(node, key: "never_read", diagnostics: &diagnostics) {
            for (column, line) in items {
                checkColumnName(column, line: line)
                // Column names are compared without case: SQLite and unquoted PostgreSQL names ignore it.
                neverRead.insert(column.lowercased())
                if let line { neverReadLines[column.lowercased()] = line }
            }
        }
        var fields: [String: String] = [:]
        var columns: [String: String] = [:]  // column → the logical field that maps it
        if let fieldsNode = map.value("fields"), let fieldsMap = YAMLMap(fieldsNode, path: "customers.fields", diagnostics: &diagnostics) {
            for (logical, line, value) in fieldsMap.entries {
                guard let column = value.scalar?.string.trimmingCharacters(in: .whitespaces), !column.isEmpty, !value.isNull else {
                    diagnostics.report(value.mark?.line ?? line, "customers.fields.\(logical) must name one column")
                    continue
                }
                if logical == "id" {
                    diagnostics.report(line, "customers.fields.id: the customer id is customers.key; remove this line")
                    continue
                }
                if NeverExport.contains(logical) {
                    diagnostics.report(line, "customers.fields: \(NeverExport.reason(for: logical)); do not map it")
                    continue
                }
                guard CustomerSchema.column(named: logical) != nil else {
                    diagnostics.report(line, "customers.fields: '\(logical)' is not a field contracts can name. Fields: "
                                       + CustomerSchema.columnNames.filter { !NeverExport.contains($0) && $0 != "id" }.joined(separator: ", "))
                    continue
                }
                checkColumnName(column, line: value.mark?.line ?? line)
                if neverRead.contains(column.lowercased()) || NeverExport.columns.contains(column.lowercased()) {
                    diagnostics.report(value.mark?.line ?? line, "customers.fields.\(logical): column \(column) is never read "
                                       + "(never_read, or cardholder data); a field cannot be read from it")
                    continue
                }
                if column.lowercased() == key?.lowercased() {
                    diagnostics.report(value.mark?.line ?? line, "customers.fields.\(logical): \(column) is the key; the key is "
                                       + "sent as the field 'id'")
                    continue
                }
                if let other = columns[column.lowercased()] {
                    diagnostics.report(value.mark?.line ?? line, "customers.fields.\(logical): column \(column) already holds "
                                       + "'\(other)'; one column, one field")
                    continue
                }
                columns[column.lowercased()] = logical
                fields[logical] = column
            }
        } else if map.value("fields") == nil {
            diagnostics.report(map.line, "missing required key 'customers.fields' (logical field: column)")
        }
        if let key, neverRead.contains(key.lowercased()) {
            diagnostics.report(neverReadLines[key.lowercased()] ?? map.value("key")?.mark?.line,
                               "customers.never_read lists \(key), the key; the key is always read")
        }
        guard let table, let key else { return nil }
        return SourceModel.Customers(table: table, key: key, fields: fields, neverRead: neverRead)
    }

    private mutating func loadConsents(_ node: Node) -> SourceModel.Consents? {
        guard let map = YAMLMap(node, path: "consents", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.consentKeys, diagnostics: &diagnostics)
        let values = Self.consentKeys.map { map.requiredString($0, diagnostics: &diagnostics) }
        if let table = values[0] { checkTableName(table, line: map.value("table")?.mark?.line) }
        for (i, name) in Self.consentKeys.enumerated().dropFirst() {
            if let column = values[i] { checkColumnName(column, line: map.value(name)?.mark?.line) }
        }
        let named = Set(values.dropFirst().compactMap { $0 })
        if named.count < 4 && values.dropFirst().allSatisfy({ $0 != nil }) {
            diagnostics.report(map.line, "consents: customer, scope, granted_at and withdrawn_at must be four different columns")
        }
        guard let table = values[0], let customer = values[1], let scope = values[2], let granted = values[3],
              let withdrawn = values[4] else { return nil }
        return SourceModel.Consents(table: table, customer: customer, scope: scope, grantedAt: granted, withdrawnAt: withdrawn)
    }

    /// `name` or `schema.name`: letters, digits and underscores (quoted when used, so nothing else is needed).
    private mutating func checkTableName(_ name: String, line: Int?) {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if let last = parts.last, NeverExport.tables.contains(last.lowercased()) {
            diagnostics.report(line, "'\(name)': \(NeverExport.reason(for: String(last.lowercased())))")
            return
        }
        guard (1...2).contains(parts.count), parts.allSatisfy({ Self.isIdentifier($0) }) else {
            diagnostics.report(line, "'\(name.prefix(80))' is not a table name: name or schema.name, letters, digits and underscores")
            return
        }
    }

    private mutating func checkColumnName(_ name: String, line: Int?) {
        guard Self.isIdentifier(Substring(name)) else {
            diagnostics.report(line, "'\(name.prefix(80))' is not a column name: letters, digits and underscores")
            return
        }
    }

    static func isIdentifier(_ text: Substring) -> Bool {
        guard let first = text.unicodeScalars.first, !text.isEmpty, text.count <= 63,
              first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
