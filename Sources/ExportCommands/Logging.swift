import ArgumentParser
import Foundation
import Logging

/// How log lines look: text for people, JSON lines for log collectors.
enum LogFormat: String, ExpressibleByArgument, Sendable {
    case text
    case json
}

/// Log set-up, done once per process by the command that runs: to standard error, as text or JSON
/// lines. Logs carry run, partner and delivery ids and counts, never customer values or secrets.
public enum LoggingBootstrap {
    private static let once = NSLock()
    nonisolated(unsafe) private static var done = false

    static func bootstrap(format: LogFormat, level: Logger.Level) {
        once.lock()
        defer { once.unlock() }
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLinesLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// The tool's logger. Created on use, so that it picks up the bootstrapped handler.
var logger: Logger { Logger(label: "partner-export") }

/// One JSON object per line on standard error: time, level, message and metadata (dotted keys).
struct JSONLinesLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]
    private static let output = NSLock()

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, JSONValue)] = [
            ("time", .string(Clock.rfc3339(Date()))), ("level", .string(event.level.rawValue)), ("logger", .string(label)),
            ("message", .string("\(event.message)")),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { fields.append((key, .string("\(merged[key].map { "\($0)" } ?? "")"))) }
        let line = JSONValue.object(fields).compact() + "\n"
        Self.output.lock()
        FileHandle.standardError.write(Data(line.utf8))
        Self.output.unlock()
    }
}
