import ExportCore
import Foundation
import Synchronization

/// Output helpers: tables for people that fit the terminal, nothing fancy when the output is a pipe.
enum Terminal {
    static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// How this process writes for people, decided before the command runs.
    private static let settings = Mutex((layoutWidth: standardOutputIsTerminal ? (width(of: STDOUT_FILENO) ?? 80) : nil,
                                         errorsAsJSON: false))

    /// Tables are laid out for this many columns: the terminal's width (or `COLUMNS`) when standard
    /// output is one, unlimited otherwise (a pipe or a file gets every column in full).
    static var layoutWidth: Int? {
        get { settings.withLock { $0.layoutWidth } }
        set { settings.withLock { $0.layoutWidth = newValue } }
    }

    /// Every line this process writes on standard error is one JSON object (`--log-format json`):
    /// decided once, before the arguments are parsed (``PartnerExportCommand/runAndExit(_:)``).
    static var errorsAsJSON: Bool {
        get { settings.withLock { $0.errorsAsJSON } }
        set { settings.withLock { $0.errorsAsJSON = newValue } }
    }

    static func error(_ message: String, code: String? = nil) { say(level: "error", message, code: code) }

    static func warning(_ message: String, code: String? = nil) { say(level: "warning", message, code: code) }

    private static func say(level: String, _ message: String, code: String?) {
        guard errorsAsJSON else {
            FileHandle.standardError.write(Data(("partner-export: " + (level == "warning" ? "warning: " : "") + message + "\n").utf8))
            return
        }
        var fields: [String: LogValue] = ["level": .text(level), "logger": .text("partner-export"), "message": .text(message)]
        if let code { fields["code"] = .text(code) }
        JSONLinesLogHandler.write(fields)
    }

    /// The width of the terminal on `fd` (`COLUMNS` wins when set), or nil when it is not one.
    static func width(of fd: Int32) -> Int? {
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns >= 20 { return columns }
        var size = winsize()
        guard isatty(fd) == 1, ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 else { return nil }
        return Int(size.ws_col)
    }

    /// `1234567` → `1,234,567`.
    static func count(_ n: Int) -> String { Grouped.count(n) }

    /// `text` cut to `width` characters with an ellipsis, when longer.
    static func cut(_ text: String, to width: Int) -> String {
        guard width > 1, text.count > width else { return text }
        return String(text.prefix(width - 1)) + "…"
    }

    /// A sentence on its own line, cut to the layout width unless `wide`.
    static func line(_ text: String, wide: Bool = false) -> String {
        guard !wide, let width = layoutWidth else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { cut(String($0), to: width) }.joined(separator: "\n")
    }

    /// Renders rows as a left-aligned table with a header (numbers right-aligned); no header line
    /// when `header` is nil. When it is wider than `width` (the layout width unless given), columns
    /// are dropped from the end of `dropOrder` (least important first) and then the widest
    /// remaining text column is cut with an ellipsis, so that every line fits; `--wide` shows all.
    static func table(_ header: [String]?, _ rows: [[String]], dropOrder: [Int] = [], width: Int? = layoutWidth) -> String {
        let all = (header.map { [$0] } ?? []) + rows
        guard let columnCount = all.first?.count else { return "" }
        let header = header ?? Array(repeating: "", count: columnCount)
        var widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        let numeric = header.indices.map { column in
            rows.allSatisfy { row in row[column].allSatisfy { $0.isNumber || $0 == "," || $0 == "." || $0 == "-" } && !row[column].isEmpty }
        }
        var shown = Array(header.indices)
        func total() -> Int { shown.reduce(0) { $0 + widths[$1] } + 2 * max(0, shown.count - 1) }
        if let width {
            for column in dropOrder.reversed() where total() > width && shown.count > 1 {
                shown.removeAll { $0 == column }
            }
            if total() > width, let widest = shown.filter({ !numeric[$0] }).max(by: { widths[$0] < widths[$1] }) {
                widths[widest] = max(header[widest].count, 4, widths[widest] - (total() - width))
            }
        }
        return all.map { row in
            shown.map { column in
                let cell = cut(row[column], to: widths[column])
                let padding = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return numeric[column] ? padding + cell : cell + padding
            }.joined(separator: "  ").trailingSpacesRemoved
        }.joined(separator: "\n")
    }
}

extension String {
    var trailingSpacesRemoved: String {
        var end = endIndex
        while end > startIndex, self[index(before: end)] == " " { end = index(before: end) }
        return String(self[..<end])
    }
}
