import ExportCore
import Foundation

/// What the executable hands the commands: the process environment and the clock. The production
/// executable never changes the clock; a test-only executable (`partner-export-fixed-clock`) sets it.
public enum Host {
    nonisolated(unsafe) public static var time = TimeSource.system

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
