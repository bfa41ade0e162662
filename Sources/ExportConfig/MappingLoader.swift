import ExportCore
import Foundation
import Yams

/// `mappings/<id>.yaml` → ``Mapping``, checked on its own and then against its contract.
struct MappingLoader {
    static let topKeys = ["partner", "root", "record", "namespace", "key", "fields"]
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
        let key: String?
        let keyLine: Int?
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
        let key = map.optionalString("key", diagnostics: &diagnostics)
        var fields: [RawField] = []
        var listed = 0
        if let node = map.value("fields") {
            if let sequence = node.sequence {
                listed = sequence.count
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
        // A field that did not load has its own problem; the key is judged once every field loads.
        if fields.count == listed {
            checkKey(key, line: map.keyLine("key") ?? map.line, fieldsLine: map.keyLine("fields") ?? map.line, fields: fields)
        }
        guard let partner else { return nil }
        return RawMapping(partner: partner, root: rootName, record: record, namespace: namespace, key: key,
                          keyLine: map.keyLine("key"), fields: fields,
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

    /// The key a partner identifies customers by: a field of this mapping, from `id` or `email`, in a
    /// form that gives the same value for the same customer on every run; by default the first field
    /// from `id` in such a form.
    private mutating func checkKey(_ key: String?, line: Int?, fieldsLine: Int?, fields: [RawField]) {
        let mapped = fields.map(\.field)
        guard let key else {
            if !mapped.isEmpty && Mapping.defaultKey(mapped) == nil {
                diagnostics.report(fieldsLine, "the mapping has no key: no field sends id as clear, sha256 or pseudonym. "
                                   + "Name the field the partner identifies customers by with 'key:' (from id or email, "
                                   + "in form clear, sha256 or pseudonym): deletion notices need it")
            }
            return
        }
        guard let field = mapped.first(where: { $0.name == key }) else {
            diagnostics.report(line, "key '\(key)' is not an output name of this mapping; names: "
                               + mapped.map(\.name).joined(separator: ", "))
            return
        }
        if !Mapping.keyColumns.contains(field.from) {
            diagnostics.report(line, "key '\(key)' comes from \(field.from); a key must come from id or email, which "
                               + "identify a customer")
        } else if !Mapping.stableForms.contains(field.form) {
            diagnostics.report(line, "key '\(key)' is sent as \(field.form.name), which is not stable for a customer (or "
                               + "not unique); a key must be clear, sha256 or pseudonym")
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
                       fields: raw.fields.map(\.field), key: raw.key)
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
