import Foundation
import Yams

/// A strict view of a YAML mapping: typed getters that report problems with their line, and a
/// check that every key was expected (synthesised `Decodable` would silently ignore typos).
struct YAMLMap {
    let node: Node
    let path: String
    let line: Int?
    private let pairs: [(key: String, keyLine: Int?, value: Node)]

    /// Views `node` as a mapping whose keys are strings; reports and returns nil otherwise.
    init?(_ node: Node, path: String, diagnostics: inout Diagnostics) {
        guard let mapping = node.mapping else {
            diagnostics.report(node.mark?.line, "\(path.isEmpty ? "the file" : path) must be a mapping of keys to values")
            return nil
        }
        var pairs: [(String, Int?, Node)] = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                diagnostics.report(key.mark?.line, "\(path.isEmpty ? "a" : "\(path): a") key must be plain text")
                continue
            }
            pairs.append((name, key.mark?.line, value))
        }
        self.node = node
        self.path = path
        self.line = node.mark?.line
        self.pairs = pairs
    }

    var keys: [String] { pairs.map(\.key) }
    var entries: [(key: String, keyLine: Int?, value: Node)] { pairs }

    func keyLine(_ key: String) -> Int? { pairs.first { $0.key == key }?.keyLine }

    /// The value of `key`, unless absent or null.
    func value(_ key: String) -> Node? {
        guard let node = pairs.first(where: { $0.key == key })?.value, !node.isNull else { return nil }
        return node
    }

    func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reports every key that is not in `allowed`, except those `secretKeys` flags as inline secrets
    /// (reported on their own with a message of their own).
    func reportUnknownKeys(allowed: [String], diagnostics: inout Diagnostics) {
        for (key, line, _) in pairs where !allowed.contains(key) {
            if InlineSecret.looksLikeSecretKey(key) {
                diagnostics.report(line, InlineSecret.message(for: qualified(key)))
                continue
            }
            var message = "unknown key '\(qualified(key))'"
            if let suggestion = Suggestion.closest(to: key, among: allowed) {
                message += "; did you mean '\(suggestion)'?"
            }
            message += " Known keys here: \(allowed.joined(separator: ", "))."
            diagnostics.report(line, message)
        }
    }

    /// A required non-empty string.
    func requiredString(_ key: String, diagnostics: inout Diagnostics) -> String? {
        guard let node = value(key) else {
            diagnostics.report(line, "missing required key '\(qualified(key))'")
            return nil
        }
        return string(node, key: key, diagnostics: &diagnostics)
    }

    /// An optional string; nil when absent.
    func optionalString(_ key: String, diagnostics: inout Diagnostics) -> String? {
        guard let node = value(key) else { return nil }
        return string(node, key: key, diagnostics: &diagnostics)
    }

    private func string(_ node: Node, key: String, diagnostics: inout Diagnostics) -> String? {
        guard let scalar = node.scalar else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be a single text value")
            return nil
        }
        let text = scalar.string.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must not be empty")
            return nil
        }
        return text
    }

    /// An optional whole number within `range`.
    func optionalInt(_ key: String, in range: ClosedRange<Int>, diagnostics: inout Diagnostics) -> Int? {
        guard let node = value(key) else { return nil }
        guard let scalar = node.scalar, scalar.style == .plain, let n = Int(scalar.string.replacingOccurrences(of: "_", with: "")) else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be a whole number")
            return nil
        }
        guard range.contains(n) else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return n
    }

    /// An optional number from 0 to 100 (a share in percent; decimals allowed).
    func optionalPercent(_ key: String, diagnostics: inout Diagnostics) -> Double? {
        guard let node = value(key) else { return nil }
        guard let scalar = node.scalar, scalar.style == .plain, let n = Double(scalar.string), n.isFinite else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be a number from 0 to 100 (a percentage)")
            return nil
        }
        guard (0...100).contains(n) else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be between 0 and 100 (a percentage); it is \(scalar.string)")
            return nil
        }
        return n
    }

    /// An optional `true` / `false`.
    func optionalBool(_ key: String, diagnostics: inout Diagnostics) -> Bool? {
        guard let node = value(key) else { return nil }
        switch node.scalar?.string {
        case "true"?: return true
        case "false"?: return false
        default:
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be true or false")
            return nil
        }
    }

    /// A list of non-empty strings; nil (after a report) when it is not one.
    func stringList(_ node: Node, key: String, diagnostics: inout Diagnostics) -> [(value: String, line: Int?)]? {
        guard let sequence = node.sequence else {
            diagnostics.report(node.mark?.line, "'\(qualified(key))' must be a list, e.g. [a, b]")
            return nil
        }
        var items: [(String, Int?)] = []
        for item in sequence {
            guard let scalar = item.scalar, !item.isNull else {
                diagnostics.report(item.mark?.line, "each item of '\(qualified(key))' must be a single text value")
                continue
            }
            items.append((scalar.string, item.mark?.line))
        }
        return items
    }
}

extension Node {
    /// Whether the node is YAML null (`~`, `null`, or nothing).
    var isNull: Bool {
        guard let scalar = scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}

/// "Did you mean …?" for mistyped keys.
enum Suggestion {
    static func closest(to word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word, $0)) }.filter { $0.1 <= max(2, word.count / 3) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    private static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
