import ExportCore
import Foundation
import Synchronization

/// What the process gives every command: its environment and the clock. The production executable
/// never changes the clock; the test-only executable (`partner-export-fixed-clock`) fixes it once,
/// before the command is parsed.
public enum CommandContext {
    private static let clock = Mutex(TimeSource.system)

    /// The clock of every command.
    public static var time: TimeSource { clock.withLock { $0 } }

    /// Fixes the clock at `date` (sleeps still take real time).
    public static func fixClock(at date: Date) {
        clock.withLock { $0 = TimeSource(now: { date }, sleep: { Thread.sleep(forTimeInterval: $0) }) }
    }

    static var environment: [String: String] { ProcessInfo.processInfo.environment }
}

/// Standard output that reports its failures (a full disk, a closed file): `print` would ignore them.
enum StandardOutput {
    static func write(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportError.environment("cannot write to standard output: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// A line (or lines): the text and a newline.
    static func line(_ text: String) throws { try write(text + "\n") }

    /// A `--json` document.
    static func json<T: Encodable>(_ value: T) throws { try write(try JSONCoding.pretty(value)) }
}
