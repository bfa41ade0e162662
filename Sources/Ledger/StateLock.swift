import Foundation

/// The lock that keeps two runs from overlapping: an advisory `flock` on a file beside the ledger.
/// The kernel releases it when the process dies, so a killed run never leaves a stale lock.
public final class StateLock {
    private let fd: Int32
    public let path: String

    /// Takes the lock, or throws ``StateLock/Held`` at once when another process holds it.
    public init(folder: String) throws {
        path = (folder as NSString).appendingPathComponent("partner-export.lock")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LedgerError("cannot open the lock \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Held(path: path)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    public struct Held: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "another partner-export run holds the lock \(path); nothing was done" }
    }
}
