import ExportCore
import Foundation

/// The lock that keeps two runs on one state folder from overlapping: an advisory `flock` on
/// `partner-export.lock` beside the ledger. The kernel releases it when the process dies, so a killed
/// run never leaves a stale lock. The file is opened without following a symlink (never truncated
/// through one) and holds who has the lock: pid, host and since when.
public final class StateLock: RunLock {
    private let fd: Int32
    public let path: String

    public static func path(in folder: String) -> String { Paths.join(folder, "partner-export.lock") }

    /// Takes the lock, or throws a `lock.held` error (exit 75) at once when another process holds it.
    public init(folder: String, now: String) throws {
        path = Self.path(in: folder)
        fd = open(path, O_CREAT | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw ExportError.environment("the lock \(path) is a symbolic link; it is never followed. Remove it (the lock "
                                              + "is re-created on the next run)")
            }
            if code == EISDIR {
                throw ExportError.environment("the lock \(path) is a folder; remove it (the lock is a file the tool makes)")
            }
            throw ExportError.environment("cannot open the lock \(path): \(String(cString: strerror(code)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw ExportError.environment("the lock \(path) is not a regular file; remove it (the lock is a file the tool makes)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(fd)
            close(fd)
            throw ExportError.lockHeld("another partner-export run holds the lock \(path)"
                                       + (holder.map { " (\($0))" } ?? "") + "; nothing was done")
        }
        fchmod(fd, 0o600)
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let line = Array("pid \(getpid()) on \(String(cString: host)) since \(now)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// A file lock is held while this process lives.
    public func check() throws {}

    public var session: Int32? { nil }

    public var exclusive: Bool { true }

    /// Whether the process that last took the lock of `folder` is still alive on this machine; read
    /// from the lock file, without touching the lock itself (a probe could make a starting run exit 75).
    public static func holderAlive(in folder: String) -> Bool {
        let fd = open(path(in: folder), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard let text = holder(fd) else { return false }
        let words = text.split(separator: " ")
        guard words.count >= 4, words[0] == "pid", let pid = Int32(words[1]) else { return true }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        guard String(words[3]) == String(cString: host) else { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 200)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
