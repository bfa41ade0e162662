import ExportConfig
import Foundation
import TestSupport
import Testing

/// A valid contract; tests change one thing at a time.
let baseContract = """
    id: acme
    name: ACME Offers Ltd
    purpose: Offers
    consent: [partner-offers]
    allow:
      id: [pseudonym]
      email: [sha256]
      first_name: [clear, initial]
      postal_code: [prefix3]
      services: [clear]
      created_at: [year]
    filters:
      account_status: [active]
    format: json
    delivery:
      url: https://feeds.acme.example/in
      auth:
        bearer_token_env: ACME_TOKEN
      pseudonym_key_env: ACME_PSEUDONYM_KEY
      batch: {max_records: 100}
    """

let baseMapping = """
    partner: acme
    fields:
      - {name: ref, from: id, form: pseudonym}
      - {name: email_sha256, from: email, form: sha256}
      - {name: firstName, from: first_name}
      - {name: area, from: postal_code, form: prefix3}
      - {name: services, from: services}
    """

/// Loads a config folder holding the given partners/ and mappings/ files (name → text).
func load(partners: [String: String] = ["acme": baseContract], mappings: [String: String] = ["acme": baseMapping],
          extra: [String: String] = [:]) throws -> ConfigLoadResult {
    let folder = TestFiles.temporaryDirectory("config")
    for (name, text) in partners { try TestFiles.write(text, to: folder.appendingPathComponent("partners/\(name).yaml")) }
    for (name, text) in mappings { try TestFiles.write(text, to: folder.appendingPathComponent("mappings/\(name).yaml")) }
    for (path, text) in extra { try TestFiles.write(text, to: folder.appendingPathComponent(path)) }
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("partners"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("mappings"), withIntermediateDirectories: true)
    return ConfigLoader.load(from: folder)
}

/// The line of the first line of `text` that contains `needle` (1-based).
func line(of needle: String, in text: String) -> Int? {
    text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(needle) }.map { $0 + 1 }
}

/// Expects exactly one problem in `file` at `line` whose message contains `words`, among exactly
/// `total` problems (one unless told); and no partner loaded.
@discardableResult
func expectProblem(_ result: ConfigLoadResult, file: String, line expectedLine: Int?, _ words: String..., of total: Int = 1,
                   sourceLocation: SourceLocation = #_sourceLocation) -> ConfigProblem? {
    #expect(result.configuration.partner("acme") == nil, "an invalid partner must not load", sourceLocation: sourceLocation)
    let matching = result.problems.filter { problem in problem.file == file && words.allSatisfy { problem.message.contains($0) } }
    #expect(result.problems.count == total, "expected \(total) problem(s); got: \(result.problems)", sourceLocation: sourceLocation)
    #expect(matching.count == 1, "no problem in \(file) with \(words); got: \(result.problems)", sourceLocation: sourceLocation)
    if let problem = matching.first {
        #expect(problem.line == expectedLine, "wrong line for \(problem)", sourceLocation: sourceLocation)
        #expect(problem.description.hasPrefix("\(file):\(expectedLine.map(String.init) ?? "")"), sourceLocation: sourceLocation)
    }
    return matching.first
}
