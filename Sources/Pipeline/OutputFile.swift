import Foundation

/// A file the tool writes customer data to: created with mode 0600 (owner only, whatever the umask),
/// written through a buffer, moved into place only when complete.
final class OutputFile {
    let path: String
    let temporary: String
    let fd: Int32
    private var buffer: [UInt8] = []
    var size = 0
    private var closed = false

    static let bufferSize = 1 << 16

    init(path: String) throws {
        self.path = path
        temporary = path + ".partial"
        unlink(temporary)
        fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OutputError(path: temporary, errno: errno) }
        fchmod(fd, 0o600)
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit {
        if !closed {
            close(fd)
            unlink(temporary)
        }
    }

    func write<Bytes: Collection>(_ bytes: Bytes) throws where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        size += bytes.count
        if buffer.count >= Self.bufferSize { try flush() }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Overwrites bytes at `offset` (for a count patched into a header of fixed width).
    func overwrite(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == bytes.count else { throw OutputError(path: temporary, errno: errno) }
    }

    /// Flushes, syncs and moves the file into place.
    func commit() throws {
        try flush()
        guard fsync(fd) == 0 else { throw OutputError(path: temporary, errno: errno) }
        close(fd)
        closed = true
        guard rename(temporary, path) == 0 else {
            let error = OutputError(path: path, errno: errno)
            unlink(temporary)
            throw error
        }
        // The rename is durable only once the folder is synced.
        let folder = (path as NSString).deletingLastPathComponent
        let directory = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputError(path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Writes `parts` to `path` (mode 0600) one after the other, atomically.
    static func write(_ parts: [[UInt8]], to path: String) throws {
        let file = try OutputFile(path: path)
        for part in parts {
            if part.count >= bufferSize {
                try file.flush()
                try part.withUnsafeBytes { try writeAll(file.fd, $0, path: file.temporary) }
                file.size += part.count
            } else {
                try file.write(part)
            }
        }
        try file.commit()
    }
}

public struct OutputError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let errno: Int32

    public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}
