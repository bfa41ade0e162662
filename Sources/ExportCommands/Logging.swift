import ArgumentParser
import Foundation
import ExportCore
import Logging
import Synchronization

/// How log lines look: text for people, JSON lines for log collectors.
enum LogFormat: String, ExpressibleByArgument, Sendable {
    case text
    case json
}

/// Log set-up, done once per process by the command that runs: to standard error, as text or JSON
/// lines. Logs carry run, partner and delivery ids and counts, never customer values or secrets.
public enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func bootstrap(format: LogFormat, level: Logger.Level) {
        done.withLock { done in
            guard !done else { return }
            done = true
            install(format: format, level: level)
        }
    }

    private static func install(format: LogFormat, level: Logger.Level) {
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
/// Numbers and booleans stay numbers and booleans.
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
        var fields: [String: LogValue] = ["level": .text(event.level.rawValue), "logger": .text(label), "message": .text("\(event.message)")]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[key] = LogValue(value) }
        Self.write(fields)
    }

    /// One JSON object, with the time, as one line on standard error (lines of several threads never interleave).
    static func write(_ fields: [String: LogValue]) {
        var fields = fields
        fields["time"] = .text(Timestamps.precise(Date()))
        guard let line = try? JSONCoding.compact(fields) else { return }
        output.lock()
        FileHandle.standardError.write(Data((line + "\n").utf8))
        output.unlock()
    }
}

/// A log value as JSON: text, a number or a boolean, or lists and objects of them.
enum LogValue: Encodable {
    case text(String)
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case list([LogValue])
    case object([String: LogValue])

    init(_ value: Logger.Metadata.Value) {
        switch value {
        case .string(let text): self = .text(text)
        case .stringConvertible(let value):
            switch value {
            case let n as Int: self = .integer(n)
            case let n as Int32: self = .integer(Int(n))
            case let n as Int64: self = .integer(Int(n))
            case let d as Double: self = .number(d)
            case let b as Bool: self = .boolean(b)
            default: self = .text(value.description)
            }
        case .array(let items): self = .list(items.map(LogValue.init))
        case .dictionary(let pairs): self = .object(pairs.mapValues(LogValue.init))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let text): try c.encode(text)
        case .integer(let n): try c.encode(n)
        case .number(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .list(let items): try c.encode(items)
        case .object(let pairs): try c.encode(pairs)
        }
    }
}
