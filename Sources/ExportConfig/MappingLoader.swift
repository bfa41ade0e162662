import ExportCore
import Foundation
import Yams

/// `mappings/<id>.yaml` → ``Mapping``, checked on its own and then against its contract.
struct MappingLoader {
    static let topKeys = ["partner", "root", "record", "namespace", "fields"]
    static let fieldKeys = ["name", "from", "form", "item", "required"]
    /// Enough for any real feed, and what the run report's per-field counts support.
    static let maximumFields = 64

    /// A field as written, with the lines later checks point at.
    struct RawField {
        let field: MappedField
        let line: Int?
        let formLine: Int?
        let fromLine: Int?
        let itemGiven: Bool
    }

    struct RawMapping {
        let partner: String
        let root: String
        let record: String
        let namespace: String?
        let fields: [RawField]
        let line: Int?
        let rootLine: Int?
        let recordLine: Int?
    }

    let fileID: String
    var diagnostics: Diagnostics

    init(file: String, fileID: String) {
        self.fileID = fileID
        diagnostics = Diagnostics(file: file)
    }

    mutating func load(_ root: Node) -> RawMapping? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)
        let partner = map.requiredString("partner", diagnostics: &diagnostics)
        if let partner, partner != fileID {
            diagnostics.report(map.value("partner")?.mark?.line,
                               "partner '\(partner)' differs from the file name '\(fileID).yaml'; they must be equal")
        }
        let rootName = map.optionalString("root", diagnostics: &diagnostics) ?? "feed"
        let record = map.optionalString("record", diagnostics: &diagnostics) ?? "customer"
        let namespace = map.optionalString("namespace", diagnostics: &diagnostics)
        var fields: [RawField] = []
        if let node = map.value("fields") {
            if let sequence = node.sequence {
                for item in sequence {
                    if let field = loadField(item) { fields.append(field) }
                }
                if sequence.isEmpty { diagnostics.report(node.mark?.line, "'fields' is empty: a mapping sends at least one field") }
                if sequence.count > Self.maximumFields {
                    diagnostics.report(node.mark?.line, "a mapping sends at most \(Self.maximumFields) fields; this one lists \(sequence.count)")
                }
            } else {
                diagnostics.report(node.mark?.line, "'fields' must be a list of {name, from, form} entries")
            }
        } else {
            diagnostics.report(map.line, "missing required key 'fields'")
        }
        checkFields(fields)
        guard let partner else { return nil }
        return RawMapping(partner: partner, root: rootName, record: record, namespace: namespace, fields: fields,
                          line: map.line, rootLine: map.keyLine("root"), recordLine: map.keyLine("record"))
    }

    private mutating func loadField(_ node: Node) -> RawField? {
        guard let map = YAMLMap(node, path: "fields[]", diagnostics: &diagnostics) else { return nil }
        let before = diagnostics.problems.count
        map.reportUnknownKeys(allowed: Self.fieldKeys, diagnostics: &diagnostics)
        let name = map.requiredString("name", diagnostics: &diagnostics)
        let from = map.requiredString("from", diagnostics: &diagnostics)
        var form = Form.clear
        if let text = map.optionalString("form", diagnostics: &diagnostics) {
            if let parsed = Form(name: text) { form = parsed } else {
                diagnostics.report(map.value("form")?.mark?.line, "unknown form '\(text)'. Forms: clear, initial, prefixN "
                                   + "(N from 1 to \(Form.maximumPrefix)), year, sha256, pseudonym")
            }
        }
        let item = map.optionalString("item", diagnostics: &diagnostics)
        let required = map.optionalBool("required", diagnostics: &diagnostics) ?? false
        guard diagnostics.problems.count == before, let name, let from else { return nil }
        return RawField(field: MappedField(name: name, from: from, form: form, item: item ?? "item", required: required),
                        line: map.line, formLine: map.keyLine("form"), fromLine: map.value("from")?.mark?.line,
                        itemGiven: item != nil)
    }

    /// Checks that need no contract: unique output names, real and exportable columns, forms that fit the type.
    private mutating func checkFields(_ fields: [RawField]) {
        var seen: [String: Int?] = [:]
        for raw in fields {
            let field = raw.field
            if let earlier = seen[field.name] {
                diagnostics.report(raw.line, "output name '\(field.name)' is used twice (first at line \(earlier.map(String.init) ?? "?")); "
                                   + "each output name must be unique")
            }
            seen[field.name] = raw.line
            if field.name.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                diagnostics.report(raw.line, "output name '\(field.name)' holds control characters")
            }
            if NeverExport.contains(field.from) {
                diagnostics.report(raw.fromLine, "from: \(NeverExport.reason(for: field.from)); remove this field")
                continue
            }
            guard let column = CustomerSchema.column(named: field.from) else {
                diagnostics.report(raw.fromLine, "from: '\(field.from)' is not a column of customers. Columns: "
                                   + CustomerSchema.columnNames.filter { !NeverExport.contains($0) }.joined(separator: ", "))
                continue
            }
            if !field.form.applies(to: column.type) {
                diagnostics.report(raw.formLine ?? raw.line, "the form '\(field.form)' does not apply to \(field.from), a "
                                   + "\(column.type.rawValue) field; forms that do: \(Form.names(applicableTo: column.type).joined(separator: ", "))")
            }
        }
    }

    /// Checks the mapping against its contract: a mapping may send less than its contract allows, never more.
    mutating func check(_ raw: RawMapping, against contract: Contract, contractFile: String) -> Mapping? {
        let before = diagnostics.problems.count
        let xml = contract.format == .xml
        for (name, line) in [(raw.root, raw.rootLine), (raw.record, raw.recordLine)] where xml && !XMLName.isValid(name) {
            diagnostics.report(line, "'\(name)' is not a valid XML element name")
        }
        if let namespace = raw.namespace, xml, namespace.unicodeScalars.contains(where: {
            $0.properties.isWhitespace || $0 == "\"" || $0 == "<" || $0 == "&" || $0.value < 0x20 || $0.value == 0x7F
                || (0x80...0x9F).contains($0.value) }) {
            diagnostics.report(raw.line, "namespace must be a URI without spaces, control characters, quotes, '<' or '&'")
        }
        for raw in raw.fields {
            let field = raw.field
            if xml && !XMLName.isValid(field.name) {
                diagnostics.report(raw.line, "output name '\(field.name)' is not a valid XML element name")
            }
            guard !NeverExport.contains(field.from), let column = CustomerSchema.column(named: field.from),
                  field.form.applies(to: column.type) else { continue }
            guard let allowed = contract.allowedForms(for: field.from) else {
                diagnostics.report(raw.fromLine, "the contract \(contractFile) does not allow '\(field.from)'; a mapping may send "
                                   + "less than its contract allows, never more. Remove the field, or have the contract amended")
                continue
            }
            guard allowed.contains(field.form) else {
                diagnostics.report(raw.formLine ?? raw.line, "the contract \(contractFile) allows '\(field.from)' only as "
                                   + "\(allowed.map(\.name).joined(separator: ", ")), not as '\(field.form)'")
                continue
            }
            if field.form == .pseudonym && contract.delivery.pseudonymKeyEnv == nil {
                diagnostics.report(raw.formLine ?? raw.line, "the pseudonym form needs a key: the contract \(contractFile) "
                                   + "must name one with delivery.pseudonym_key_env")
            }
            if raw.itemGiven && column.type != .list {
                diagnostics.report(raw.line, "'item' applies to list fields only; \(field.from) is a \(column.type.rawValue) field")
            } else if xml && column.type == .list && !XMLName.isValid(field.item) {
                diagnostics.report(raw.line, "item '\(field.item)' is not a valid XML element name")
            }
        }
        guard diagnostics.problems.count == before else { return nil }
        return Mapping(partner: raw.partner, root: raw.root, record: raw.record, namespace: raw.namespace,
                       fields: raw.fields.map(\.field))
    }
}

/// XML 1.0 element names without a prefix (NCName), restricted to a safe subset: ASCII letters,
/// digits, `_`, `-` and `.`, starting with a letter or `_`, not starting with `xml`.
enum XMLName {
    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII,
              first.properties.isAlphabetic || first == "_" else { return false }
        if name.lowercased().hasPrefix("xml") { return false }
        return name.unicodeScalars.allSatisfy { s in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_" || s == "-" || s == ".")
        }
    }
}

/// Paths in a contract are relative to the config folder.
public enum ConfigPaths {
    public static func resolve(_ path: String, in directory: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
    }
}
