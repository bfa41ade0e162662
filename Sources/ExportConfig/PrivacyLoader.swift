import ExportCore
import Foundation
import Yams

/// `catalog.yaml` → ``Catalog``: the controller, and each column's data category (docs/privacy.md).
struct CatalogLoader {
    static let file = "catalog.yaml"
    static let topKeys = ["controller", "columns"]
    static let controllerKeys = ["name", "contact", "dpo"]
    static let entryKeys = ["category", "special"]

    var diagnostics = Diagnostics(file: CatalogLoader.file)

    /// `fields`: the columns that must each have a category (what contracts can allow); `optional`:
    /// those that may have one (the never-export columns).
    mutating func load(_ root: Node, fields: [String], optional: Set<String>) -> Catalog? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)
        var controller: Catalog.Controller?
        if let node = map.value("controller"), let entry = YAMLMap(node, path: "controller", diagnostics: &diagnostics) {
            entry.reportUnknownKeys(allowed: Self.controllerKeys, diagnostics: &diagnostics)
            let name = entry.requiredString("name", diagnostics: &diagnostics)
            let contact = entry.requiredString("contact", diagnostics: &diagnostics)
            let dpo = entry.optionalString("dpo", diagnostics: &diagnostics)
            if let name, let contact { controller = .init(name: name, contact: contact, dpo: dpo) }
        } else if map.value("controller") == nil {
            diagnostics.report(map.line, "missing required key 'controller' ({name, contact, dpo}: who the record of processing names)")
        }
        var columns: [String: Catalog.Entry] = [:]
        guard let node = map.value("columns") else {
            diagnostics.report(map.line, "missing required key 'columns' (each column of customers → its data category)")
            return nil
        }
        guard let entries = YAMLMap(node, path: "columns", diagnostics: &diagnostics) else { return nil }
        let known = Set(fields).union(optional)
        for (column, line, value) in entries.entries {
            guard known.contains(column) else {
                let nearest = Suggestion.closest(to: column, among: Array(known)).map { "; did you mean '\($0)'?" } ?? ""
                diagnostics.report(line, "columns: '\(column)' is not a column of customers (or a field of source.yaml)\(nearest)")
                continue
            }
            var category: String?
            var special = false
            var categoryLine = value.mark?.line ?? line
            if let scalar = value.scalar, !value.isNull {
                category = scalar.string
            } else if let entry = YAMLMap(value, path: "columns.\(column)", diagnostics: &diagnostics) {
                entry.reportUnknownKeys(allowed: Self.entryKeys, diagnostics: &diagnostics)
                category = entry.requiredString("category", diagnostics: &diagnostics)
                special = entry.optionalBool("special", diagnostics: &diagnostics) ?? false
                categoryLine = entry.value("category")?.mark?.line ?? categoryLine
            }
            guard let category else { continue }
            guard Taxonomy.isCategory(category) else {
                diagnostics.report(categoryLine, "columns.\(column): '\(category)' is not a data category of the taxonomy"
                                   + PrivacyNames.nearest(category, among: Taxonomy.dataCategories.map(\.key)))
                continue
            }
            columns[column] = .init(category: category, special: special || Taxonomy.isSpecial(category))
        }
        for field in fields where columns[field] == nil && !diagnostics.problems.contains(where: { $0.message.contains("columns.\(field):") }) {
            diagnostics.report(map.keyLine("columns") ?? entries.line, "columns: '\(field)' has no data category; once catalog.yaml exists every column a "
                               + "contract can allow needs one (e.g. \(field): user.…)")
        }
        guard diagnostics.problems.isEmpty, let controller else { return nil }
        return Catalog(controller: controller, columns: columns)
    }

}

/// What catalog.yaml, policy.yaml and contracts say about a name that is not known.
enum PrivacyNames {
    /// "; did you mean 'x'?" for a near miss, else the nearest known name above it, else "".
    static func nearest(_ name: String, among keys: [String]) -> String {
        Suggestion.closest(to: name, among: keys).map { "; did you mean '\($0)'?" }
            ?? (keys.filter { Taxonomy.covers($0, name) }.max { $0.count < $1.count }.map { "; the nearest known is '\($0)'" } ?? "")
    }

    /// The sentence for a `legal_basis` that is none of the lawful bases.
    static func unknownBasis(_ text: String, key: String) -> String {
        let all = LegalBasis.allCases.map(\.rawValue)
        let nearest = Suggestion.closest(to: text, among: all).map { "did you mean '\($0)'? " } ?? ""
        return "\(key): '\(text)' is not a lawful basis; \(nearest)Known: \(all.joined(separator: ", "))"
    }
}

/// `policy.yaml` → ``Policy``: rules that deny data categories for data uses, unless a legal basis.
struct PolicyLoader {
    static let file = "policy.yaml"
    static let topKeys = ["rules"]
    static let ruleKeys = ["name", "deny", "unless"]
    static let denyKeys = ["data_categories", "data_uses"]
    static let unlessKeys = ["legal_basis"]

    var diagnostics = Diagnostics(file: PolicyLoader.file)

    mutating func load(_ root: Node) -> Policy? {
        guard let map = YAMLMap(root, path: "", diagnostics: &diagnostics) else { return nil }
        map.reportUnknownKeys(allowed: Self.topKeys, diagnostics: &diagnostics)
        guard let node = map.value("rules"), let sequence = node.sequence else {
            diagnostics.report(map.line, "'rules' must be a list of {name, deny: {data_categories, data_uses}, unless: {legal_basis}}")
            return nil
        }
        var rules: [Policy.Rule] = []
        var seen: [String: Int?] = [:]
        for item in sequence {
            guard let rule = YAMLMap(item, path: "rules[]", diagnostics: &diagnostics) else { continue }
            rule.reportUnknownKeys(allowed: Self.ruleKeys, diagnostics: &diagnostics)
            let name = rule.requiredString("name", diagnostics: &diagnostics)
            if let name {
                if let earlier = seen[name] {
                    diagnostics.report(rule.line, "rule name '\(name)' is used twice (first at line \(earlier.map(String.init) ?? "?"))")
                }
                seen[name] = rule.line
            }
            var categories: [String] = []
            var uses: [String] = []
            if let denyNode = rule.value("deny"), let deny = YAMLMap(denyNode, path: "deny", diagnostics: &diagnostics) {
                deny.reportUnknownKeys(allowed: Self.denyKeys, diagnostics: &diagnostics)
                categories = names(deny, "data_categories", known: Taxonomy.isCategory, keys: Taxonomy.dataCategories.map(\.key))
                uses = names(deny, "data_uses", known: Taxonomy.isUse, keys: Taxonomy.dataUses.map(\.key))
            } else {
                diagnostics.report(rule.line, "a rule needs deny: {data_categories: [...], data_uses: [...]}")
            }
            var unless: [LegalBasis] = []
            if let unlessNode = rule.value("unless"), let entry = YAMLMap(unlessNode, path: "unless", diagnostics: &diagnostics) {
                entry.reportUnknownKeys(allowed: Self.unlessKeys, diagnostics: &diagnostics)
                if let listNode = entry.value("legal_basis"), let items = entry.stringList(listNode, key: "legal_basis", diagnostics: &diagnostics) {
                    for (text, line) in items {
                        if let basis = LegalBasis(rawValue: text) { unless.append(basis) } else {
                            diagnostics.report(line, PrivacyNames.unknownBasis(text, key: "unless.legal_basis"))
                        }
                    }
                }
            }
            if let name { rules.append(.init(name: name, categories: categories, uses: uses, unless: unless, line: rule.line)) }
        }
        guard diagnostics.problems.isEmpty else { return nil }
        return Policy(rules: rules)
    }

    private mutating func names(_ map: YAMLMap, _ key: String, known: (String) -> Bool, keys: [String]) -> [String] {
        guard let node = map.value(key), let items = map.stringList(node, key: key, diagnostics: &diagnostics), !items.isEmpty else {
            diagnostics.report(map.line, "deny.\(key) must list at least one name (prefixes match what is below them)")
            return []
        }
        var names: [String] = []
        for (name, line) in items {
            if known(name) { names.append(name) } else {
                diagnostics.report(line, "deny.\(key): '\(name)' is not in the taxonomy" + PrivacyNames.nearest(name, among: keys))
            }
        }
        return names
    }
}

/// What the policy and the catalog say about one partner's mapping: each violation at the line of the
/// field that would send it (docs/privacy.md).
enum PrivacyCheck {
    static func problems(_ partner: Partner, catalog: Catalog, policy: Policy?, location: PartnerLocation) -> [ConfigProblem] {
        let contract = partner.contract
        var problems: [ConfigProblem] = []
        guard let use = contract.terms.dataUse, let basis = contract.terms.legalBasis else {
            let missing = [contract.terms.dataUse == nil ? "data_use" : nil, contract.terms.legalBasis == nil ? "legal_basis" : nil]
                .compactMap { $0 }.joined(separator: " and ")
            return [ConfigProblem(file: location.contractFile, line: 1,
                                  message: "the contract has no \(missing); once catalog.yaml exists every contract says what its data "
                                  + "is used for (a fideslang data use) and on which lawful basis, so that the policy can be checked")]
        }
        for field in partner.mapping.fields {
            guard let entry = catalog.entry(field.from) else { continue }
            let line = location.fieldLines[field.name]
            let sent = field.form == .clear ? entry.category
                : "\(entry.category), as \(field.form.name)" + (field.form.isPseudonymising ? ": pseudonymised, still personal data" : "")
            if entry.special && basis != .explicitConsent {
                problems.append(ConfigProblem(file: location.mappingFile, line: line,
                                              message: "field '\(field.name)' sends \(field.from) (\(sent)), a special category of data "
                                              + "(GDPR Art. 9): only on legal_basis explicit_consent; the contract says \(basis.rawValue)"))
            }
            for rule in policy?.rules ?? [] where rule.denies(category: entry.category, use: use, basis: basis) {
                let unless = rule.unless.isEmpty ? "" : " unless legal_basis " + rule.unless.map(\.rawValue).joined(separator: " or ")
                    + " (the contract says \(basis.rawValue))"
                problems.append(ConfigProblem(file: location.mappingFile, line: line,
                                              message: "field '\(field.name)' sends \(field.from) (\(sent)) for \(use), which policy.yaml"
                                              + "\(rule.line.map { ":\($0)" } ?? "") rule '\(rule.name)' denies\(unless)"))
            }
        }
        return problems
    }
}
