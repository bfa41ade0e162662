import ExportCore
import Foundation
import Yams

/// The validated configuration: every partner whose contract and mapping were loaded and checked
/// against each other.
public struct Configuration: Sendable {
    /// The config folder (holding `partners/` and `mappings/`).
    public let directory: URL
    /// Partners, sorted by id.
    public let partners: [Partner]
    /// Where each partner's files and some of their keys are, for messages of later checks.
    public let locations: [String: PartnerLocation]
    /// Where the logical fields live: `source.yaml`, or the canonical schema.
    public var source: SourceModel = .canonical
    /// `notify.yaml`: heartbeats and incident webhooks (nil: none).
    public var notify: NotifySettings?
    /// `catalog.yaml`: each column's data category, the controller (nil: none).
    public var catalog: Catalog?
    /// `policy.yaml`: what may never leave for which use (nil: none).
    public var policy: Policy?

    public func partner(_ id: String) -> Partner? { partners.first { $0.id == id } }

    /// A path from a contract, resolved against the config folder.
    public func resolve(_ path: String) -> URL { ConfigPaths.resolve(path, in: directory) }
}

/// A partner's files and the lines of keys that later checks report on.
public struct PartnerLocation: Sendable {
    public let contractFile: String
    public let mappingFile: String
    /// Contract keys (`xsd`, `ca_file`, `client_cert`, `client_key`, `schedule`) → line.
    public let contractLines: [String: Int]
    /// The mapping's fields (output name) → line.
    public var fieldLines: [String: Int] = [:]

    public func problem(_ key: String, _ message: String) -> ConfigProblem {
        ConfigProblem(file: contractFile, line: contractLines[key], message: message)
    }
}

/// What loading found: the partners that are valid, and every problem.
public struct ConfigLoadResult: Sendable {
    public let configuration: Configuration
    public let problems: [ConfigProblem]
    /// Files read, for `validate`'s summary.
    public let filesChecked: [String]
    /// notify.yaml's problems: `validate` fails on them, a run does not (it only notifies nothing).
    public var notifyProblems: [ConfigProblem] = []
}

/// Loads `partners/*.yaml` and `mappings/*.yaml` from a config folder.
public enum ConfigLoader {
    public static func load(from directory: URL) -> ConfigLoadResult {
        var problems: [ConfigProblem] = []
        var files: [String] = []

        var contracts: [String: (contract: Contract, file: String, lines: [String: Int])] = [:]
        var contractIDs: [String: String] = [:]  // id → file, including invalid contracts
        for (id, file, url) in yamlFiles(in: directory, folder: "partners", problems: &problems) {
            files.append(file)
            contractIDs[id] = file
            guard let root = parse(url, file: file, in: directory, problems: &problems) else { continue }
            var loader = ContractLoader(file: file, fileID: id, configDirectory: directory)
            let contract = loader.load(root)
            problems += loader.diagnostics.problems
            if let contract { contracts[id] = (contract, file, loader.lines) }
        }

        var partners: [Partner] = []
        var locations: [String: PartnerLocation] = [:]
        var mappingIDs: Set<String> = []
        for (id, file, url) in yamlFiles(in: directory, folder: "mappings", problems: &problems) {
            files.append(file)
            mappingIDs.insert(id)
            guard let root = parse(url, file: file, in: directory, problems: &problems) else { continue }
            var loader = MappingLoader(file: file, fileID: id)
            let raw = loader.load(root)
            if contractIDs[id] == nil {
                loader.diagnostics.report(1, "there is no contract partners/\(id).yaml for this mapping; "
                                          + "every mapping needs the contract that allows it")
            } else if let raw, let (contract, contractFile, lines) = contracts[id] {
                if let mapping = loader.check(raw, against: contract, contractFile: contractFile),
                   loader.diagnostics.problems.isEmpty {
                    partners.append(Partner(contract: contract, mapping: mapping))
                    var location = PartnerLocation(contractFile: contractFile, mappingFile: file, contractLines: lines)
                    for field in raw.fields { if let line = field.line { location.fieldLines[field.field.name] = line } }
                    locations[id] = location
                }
            }
            problems += loader.diagnostics.problems
        }
        for (id, file) in contractIDs where !mappingIDs.contains(id) {
            problems.append(ConfigProblem(file: file, line: 1, message: "there is no mapping mappings/\(id).yaml for this "
                                          + "contract; add one that says which allowed fields the feed carries"))
        }
        // source.yaml (optional): the company's own tables. A contract may only allow, and filter on,
        // fields the source maps.
        var source = SourceModel.canonical
        if let sourceURL = optionalFile(SourceLoader.file, in: directory) {
            files.append(SourceLoader.file)
            if let root = parse(sourceURL, file: SourceLoader.file, in: directory, problems: &problems) {
                var loader = SourceLoader()
                if let model = loader.load(root) { source = model }
                problems += loader.diagnostics.problems
                if loader.diagnostics.problems.isEmpty {
                    partners = partners.filter { partner in
                        guard let location = locations[partner.id] else { return true }
                        let unmapped = Self.unmapped(partner.contract, in: source, location: location)
                        problems += unmapped
                        return unmapped.isEmpty
                    }
                } else {
                    partners = []
                }
            } else {
                partners = []
            }
        }
        // catalog.yaml and policy.yaml (optional): what each column is, and what may never leave for which use.
        let before = problems.count
        let (catalog, policy) = loadPrivacy(from: directory, source: source, files: &files, problems: &problems)
        // A catalog or policy that does not hold together: no partner can be checked against it.
        if problems.count > before { partners = [] }
        if let catalog {
            partners = partners.filter { partner in
                guard let location = locations[partner.id] else { return true }
                let found = PrivacyCheck.problems(partner, catalog: catalog, policy: policy, location: location)
                problems += found
                return found.isEmpty
            }
        }
        // notify.yaml (optional): heartbeats and incident webhooks.
        let (notify, notifyProblems, notifyRead) = loadNotify(from: directory)
        if notifyRead { files.append(NotifyLoader.file) }
        partners.sort { $0.id < $1.id }
        problems.sort { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }
        var configuration = Configuration(directory: directory, partners: partners, locations: locations)
        configuration.source = source
        configuration.notify = notify
        configuration.catalog = catalog
        configuration.policy = policy
        var result = ConfigLoadResult(configuration: configuration, problems: problems, filesChecked: files.sorted())
        result.notifyProblems = notifyProblems
        return result
    }

    /// The fields `contract` allows or filters on that `source` does not map.
    private static func unmapped(_ contract: Contract, in source: SourceModel, location: PartnerLocation) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        for allowed in contract.allow where source.column(allowed.field) == nil {
            problems.append(ConfigProblem(file: location.contractFile, line: location.contractLines["allow.\(allowed.field)"],
                                          message: "allow: '\(allowed.field)' is not mapped by source.yaml (customers.fields), so "
                                          + "the source has nothing to send for it; map it there or remove it here"))
        }
        for filter in contract.filters where source.column(filter.column) == nil {
            problems.append(ConfigProblem(file: location.contractFile, line: location.contractLines["filters.\(filter.column)"],
                                          message: "filters: '\(filter.column)' is not mapped by source.yaml (customers.fields); "
                                          + "map it there or remove the filter"))
        }
        return problems
    }

    /// The `*.yaml` files of `folder`, sorted; other YAML-looking files are reported, never silently skipped.
    private static func yamlFiles(in directory: URL, folder: String, problems: inout [ConfigProblem])
        -> [(id: String, file: String, url: URL)] {
        let url = directory.appendingPathComponent(folder)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else {
            problems.append(ConfigProblem(file: folder + "/", line: nil, message: "the config folder \(directory.path) has no "
                                          + "readable \(folder)/ folder; pass --config DIR or set PARTNER_EXPORT_CONFIG"))
            return []
        }
        var result: [(String, String, URL)] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let file = "\(folder)/\(name)"
            if name.hasSuffix(".yaml") {
                result.append((String(name.dropLast(5)), file, url.appendingPathComponent(name)))
            } else if name.hasSuffix(".yml") {
                problems.append(ConfigProblem(file: file, line: nil, message: "rename to .yaml: only *.yaml files are read, "
                                              + "and nothing in \(folder)/ is ignored silently"))
            }
        }
        return result
    }

    /// The largest configuration file read: a contract or mapping is a few kilobytes.
    static let maximumFileSize = 256 * 1024

    /// An optional file at the config root (source.yaml, catalog.yaml, …): its URL when there is
    /// anything by that name, a dangling link included (``parse`` then says what is wrong with it).
    private static func optionalFile(_ name: String, in directory: URL) -> URL? {
        let url = directory.appendingPathComponent(name)
        let exists = FileManager.default.fileExists(atPath: url.path)
            || (try? FileManager.default.destinationOfSymbolicLink(atPath: url.path)) != nil
        return exists ? url : nil
    }

    /// catalog.yaml (every column a contract can allow, with a category) and policy.yaml (which needs
    /// the catalog's categories to mean anything).
    private static func loadPrivacy(from directory: URL, source: SourceModel, files: inout [String],
                                    problems: inout [ConfigProblem]) -> (Catalog?, Policy?) {
        func present(_ name: String) -> URL? { optionalFile(name, in: directory) }
        var catalog: Catalog?
        if let url = present(CatalogLoader.file) {
            files.append(CatalogLoader.file)
            if let root = parse(url, file: CatalogLoader.file, in: directory, problems: &problems) {
                let fields = source.isCanonical ? CustomerSchema.columns.map(\.name).filter { !NeverExport.contains($0) }
                    : ["id"] + source.customers.fields.keys.sorted()
                var loader = CatalogLoader()
                catalog = loader.load(root, fields: fields, optional: NeverExport.columns)
                problems += loader.diagnostics.problems
            }
        }
        var policy: Policy?
        if let url = present(PolicyLoader.file) {
            files.append(PolicyLoader.file)
            if let root = parse(url, file: PolicyLoader.file, in: directory, problems: &problems) {
                var loader = PolicyLoader()
                policy = loader.load(root)
                problems += loader.diagnostics.problems
                if present(CatalogLoader.file) == nil {
                    problems.append(ConfigProblem(file: PolicyLoader.file, line: 1, message: "policy.yaml speaks of data categories, "
                                                  + "which catalog.yaml gives each column: add catalog.yaml (docs/privacy.md)"))
                }
            }
        }
        return (catalog, policy)
    }

    /// `notify.yaml` on its own (a run pings its heartbeat's `/fail` even when the rest of the
    /// configuration does not hold together): the settings, its problems, and whether there is one.
    public static func loadNotify(from directory: URL) -> (NotifySettings?, [ConfigProblem], Bool) {
        guard let url = optionalFile(NotifyLoader.file, in: directory) else { return (nil, [], false) }
        var problems: [ConfigProblem] = []
        guard let root = parse(url, file: NotifyLoader.file, in: directory, problems: &problems) else { return (nil, problems, true) }
        var loader = NotifyLoader(configDirectory: directory)
        let settings = loader.load(root)
        return (settings, problems + loader.diagnostics.problems, true)
    }

    private static func parse(_ url: URL, file: String, in directory: URL, problems: inout [ConfigProblem]) -> Node? {
        // A configuration file is the config folder's own: one that resolves elsewhere (a link to
        // /etc/shadow, say) is refused unread, so that no message can quote someone else's file.
        let folder = directory.resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
            problems.append(ConfigProblem(file: file, line: nil, message: "the file is a link to somewhere outside the config "
                                          + "folder; configuration files must live in it. It was not read"))
            return nil
        }
        var info = stat()
        guard stat(resolved, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            problems.append(ConfigProblem(file: file, line: nil, message: "not a regular file; it was not read"))
            return nil
        }
        guard Int(info.st_size) <= maximumFileSize else {
            problems.append(ConfigProblem(file: file, line: nil, message: "the file is \(info.st_size) bytes; a configuration file is "
                                          + "at most \(maximumFileSize / 1024) KiB. It was not read"))
            return nil
        }
        guard let data = FileManager.default.contents(atPath: resolved) else {
            problems.append(ConfigProblem(file: file, line: nil, message: "cannot read the file"))
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            problems.append(ConfigProblem(file: file, line: nil, message: "the file is not valid UTF-8"))
            return nil
        }
        if let line = YAMLAliases.firstLine(in: text) {
            problems.append(ConfigProblem(file: file, line: line, message: "YAML anchors and aliases (&name, *name) are not allowed in "
                                          + "configuration: write each value out (quote a value that starts with * or &)"))
            return nil
        }
        do {
            guard let node = try Yams.compose(yaml: text) else {
                problems.append(ConfigProblem(file: file, line: 1, message: "the file is empty"))
                return nil
            }
            return node
        } catch let error as YamlError {
            // Yams' own descriptions quote the offending line, which could hold a secret: say it in our words.
            let (line, problem) = describe(error)
            problems.append(ConfigProblem(file: file, line: line, message: "this is not valid YAML: \(problem)"))
        } catch {
            problems.append(ConfigProblem(file: file, line: nil, message: "this is not valid YAML"))
        }
        return nil
    }

    private static func describe(_ error: YamlError) -> (Int?, String) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return (mark.line, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "the key\(duplicates.count > 1 ? "s" : "") \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) "
                    + "appear\(duplicates.count > 1 ? "" : "s") twice in one mapping")
        case .reader(let problem, _, _, _):
            return (nil, problem)
        default:
            return (nil, "the parser failed")
        }
    }
}
