import Foundation
import Logging

/// Log set-up, done once by the executable: to standard error, level from `PARTNER_EXPORT_LOG_LEVEL`
/// (default `warning`). Logs carry ids and counts, never customer values.
public enum LoggingBootstrap {
    public static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["PARTNER_EXPORT_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

let logger = Logger(label: "partner-export")
