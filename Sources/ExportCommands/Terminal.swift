import Foundation

/// Output helpers: tables for people, nothing fancy when the output is a pipe.
enum Terminal {
    static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("partner-export: \(message)\n".utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("partner-export: warning: \(message)\n".utf8))
    }

    /// `1234567` → `1,234,567`.
    static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// Renders rows as a left-aligned table with a header (numbers right-aligned); no header line
    /// when `header` is nil.
    static func table(_ header: [String]?, _ rows: [[String]]) -> String {
        let all = (header.map { [$0] } ?? []) + rows
        guard let width = all.first?.count else { return "" }
        let header = header ?? Array(repeating: "", count: width)
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        let numeric = header.indices.map { column in
            rows.allSatisfy { row in row[column].allSatisfy { $0.isNumber || $0 == "," || $0 == "." || $0 == "-" } && !row[column].isEmpty }
        }
        return all.map { row in
            row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return numeric[column] ? padding + cell : cell + padding
            }.joined(separator: "  ").trailingSpacesRemoved
        }.joined(separator: "\n")
    }
}

extension String {
    var trailingSpacesRemoved: String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
