import ExportCore
import Foundation

/// A file the tool writes customer data (or its metrics) to, whatever is already at the path:
///
/// - nothing, or a regular file of the user's: a new file (mode 0600, created with `O_EXCL` and
///   `O_NOFOLLOW` beside it) is written, synced and renamed into place, so the path holds either the
///   old content or the whole new one;
/// - a character device or a named pipe (`/dev/null`, a FIFO with a reader, a terminal): written into
///   directly, never replaced, never chmod-ed;
/// - a symbolic link to a regular file, a folder, a block device, another user's file, a pipe without
///   a reader: refused with a sentence, nothing written.
///
/// Content that must be patched or read back before it is final (`preview --out`'s record count,
/// its XSD check) is staged in a private unlinked file when the destination cannot seek.
public final class OutputFile {
    public let path: String
    /// Where the bytes go now: the staging file, or the destination itself.
    private let fd: Int32
    private let mode: mode_t
    private enum Target {
        /// A temporary file beside `path`, renamed over it on commit.
        case replace(temporary: String)
        /// A private unlinked file, copied into the stream destination on commit.
        case staged(destination: Int32)
        /// The stream destination itself.
        case direct
    }
    private let target: Target
    private var buffer: [UInt8] = []
    public private(set) var size = 0
    private var closed = false

    /// Whether the bytes went into a file of their own (mode ``mode``), rather than into a device, a
    /// pipe or a terminal, whose permissions are not the tool's to set.
    public var isFile: Bool {
        if case .replace = target { return true }
        return false
    }

    static let bufferSize = 1 << 16

    /// - Parameters:
    ///   - seekable: the caller will ``overwrite(_:at:)`` or read the file back before commit.
    ///   - mode: of a new file (0600: owner only; the metrics file may be 0644).
    public init(path: String, seekable: Bool = false, mode: mode_t = 0o600) throws {
        self.path = path
        self.mode = mode
        guard !path.isEmpty else { throw ExportError.usage("an output path is empty") }
        var link = stat()
        if lstat(path, &link) == 0 {
            var info = stat()
            let kind = link.st_mode & S_IFMT
            let resolved = stat(path, &info) == 0 ? info.st_mode & S_IFMT : 0
            if resolved == S_IFCHR || resolved == S_IFIFO || resolved == S_IFSOCK {
                let stream = try Self.openStream(path, fifo: resolved == S_IFIFO)
                if seekable {
                    fd = try Self.stagingFile(for: path)
                    target = .staged(destination: stream)
                } else {
                    fd = stream
                    target = .direct
                }
                buffer.reserveCapacity(Self.bufferSize)
                return
            }
            if kind == S_IFLNK {
                throw ExportError.environment("\(path) is a symbolic link; a file of customer data is never written through "
                                              + "one. Name the real path")
            }
            guard kind == S_IFREG else {
                throw ExportError.environment("\(path) is \(Self.describe(kind)); refusing to write customer data there")
            }
            guard link.st_uid == geteuid() else {
                throw ExportError.environment("\(path) belongs to another user (uid \(link.st_uid)); it is not replaced. Name a "
                                              + "file of your own")
            }
        } else if errno != ENOENT {
            throw OutputFile.failure(path, errno)
        }
        let folder = Paths.folder(of: path)
        let temporary = (folder.isEmpty ? "" : folder + "/") + ".\(Paths.name(of: path)).\(getpid()).partial"
        unlink(temporary)
        let descriptor = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            let code = errno
            // Name what the operator gave, not the temporary file beside it.
            if code == ENOENT {
                throw ExportError.environment("cannot write \(path): its folder \(folder.isEmpty ? "." : folder) does not exist")
            }
            throw OutputFile.failure(path, code)
        }
        fchmod(descriptor, mode)
        fd = descriptor
        target = .replace(temporary: temporary)
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit {
        guard !closed else { return }
        close(fd)
        switch target {
        case .replace(let temporary): unlink(temporary)
        case .staged(let destination): close(destination)
        case .direct: break
        }
    }

    /// A path that reads the bytes written so far (after ``flush()``), for an XSD check.
    public var readablePath: String {
        switch target {
        case .replace(let temporary): temporary
        case .staged, .direct: "/proc/self/fd/\(fd)"
        }
    }

    /// Appends bytes (buffered). Concrete, not generic: callers in other modules make one call per
    /// record, which must not go through an unspecialised generic.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        size += bytes.count
        if buffer.count >= Self.bufferSize { try flush() }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes a large piece without copying it into the buffer.
    public func writeLarge(_ bytes: [UInt8]) throws {
        guard bytes.count >= Self.bufferSize else { return try write(bytes) }
        try flush()
        try bytes.withUnsafeBytes { try Self.writeAll(fd, $0, path: path) }
        size += bytes.count
    }

    public func flush() throws {
        try buffer.withUnsafeBytes { try Self.writeAll(fd, $0, path: path) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Overwrites bytes at `offset` (a count patched into a header of fixed width); needs `seekable`.
    public func overwrite(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        if case .direct = target { throw ExportError.internalFailure("\(path) cannot be patched in place") }
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == bytes.count else { throw OutputFile.failure(path, errno) }
    }

    /// Flushes and makes the content final: synced and renamed into place, or copied into the stream.
    public func commit() throws {
        try flush()
        closed = true
        switch target {
        case .direct:
            close(fd)
        case .staged(let destination):
            defer {
                close(fd)
                close(destination)
            }
            var offset: off_t = 0
            var chunk = [UInt8](repeating: 0, count: Self.bufferSize)
            while true {
                let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
                if n < 0 { throw OutputFile.failure(path, errno) }
                if n == 0 { break }
                try chunk.withUnsafeBytes { try Self.writeAll(destination, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: path) }
                offset += off_t(n)
            }
        case .replace(let temporary):
            guard fsync(fd) == 0 else {
                let error = OutputFile.failure(temporary, errno)
                close(fd)
                unlink(temporary)
                throw error
            }
            close(fd)
            guard rename(temporary, path) == 0 else {
                let error = OutputFile.failure(path, errno)
                unlink(temporary)
                throw error
            }
            // The rename is durable only once the folder is synced.
            let folder = Paths.folder(of: path)
            let directory = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 {
                fsync(directory)
                close(directory)
            }
        }
    }

    /// Writes `parts` to `path` one after the other, atomically (see the type's rules).
    public static func write(_ parts: [[UInt8]], to path: String, mode: mode_t = 0o600) throws {
        let file = try OutputFile(path: path, mode: mode)
        for part in parts { try file.writeLarge(part) }
        try file.commit()
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw OutputFile.failure(path, errno)
            }
            offset += n
        }
    }

    private static func openStream(_ path: String, fifo: Bool) throws -> Int32 {
        // A pipe without a reader would block forever: O_NONBLOCK makes that an error (ENXIO) at once.
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | (fifo ? O_NONBLOCK : 0))
        guard fd >= 0 else {
            if errno == ENXIO { throw ExportError.environment("\(path) is a named pipe with no reader; start the reader first") }
            throw OutputFile.failure(path, errno)
        }
        if fifo { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        return fd
    }

    /// A private file nobody else can open (unlinked at once), in TMPDIR or /tmp.
    private static func stagingFile(for path: String) throws -> Int32 {
        let folder = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(folder)/partner-export-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw OutputFile.failure(folder, errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        fchmod(fd, 0o600)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: "a folder"
        case S_IFBLK: "a block device (a disk)"
        default: "not a regular file"
        }
    }

    static func failure(_ path: String, _ code: Int32) -> ExportError {
        if code == ENOSPC { return .environment("cannot write \(path): the disk is full") }
        return .environment("cannot write \(path): \(String(cString: strerror(code)))")
    }
}

/// Folders for the tool's own files: created owner-only (they hold personal data); an existing one
/// must be a folder (not a link to one elsewhere) writable by nobody else.
public enum PrivateFolder {
    /// - Parameter mode: of the folders it makes (0700; 0755 for a metrics folder others must read).
    public static func create(_ path: String, mode: mode_t = 0o700) throws {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw ExportError.environment("\(path) is not a folder (a link or a file is never written through); remove it")
            }
            if info.st_mode & (S_IWGRP | S_IWOTH) != 0 || (info.st_uid != geteuid() && info.st_uid != 0) {
                throw ExportError.environment("\(path) can be written by others or belongs to another user; fix it with "
                                              + "chmod 700 '\(path)' (it holds personal data)")
            }
            return
        }
        guard errno == ENOENT else { throw OutputFile.failure(path, errno) }
        let parent = Paths.folder(of: path)
        if !parent.isEmpty && parent != path && lstat(parent, &info) != 0 { try create(parent, mode: mode) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw OutputFile.failure(path, errno) }
        chmod(path, mode)
    }
}

/// A private scratch file for bytes on their way into an ``OutputFile``: created and unlinked at
/// once (nobody else can open it), mode 0600, in `folder` (so that the final copy stays on one file
/// system) or the temporary folder.
public final class ScratchFile {
    let fd: Int32
    private var buffer: [UInt8] = []
    public private(set) var size = 0

    public init(near path: String) throws {
        var info = stat()
        let folder = Paths.folder(of: path)
        let local = stat(folder, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && access(folder, W_OK) == 0
            && !path.hasPrefix("/dev/") && !path.hasPrefix("/proc/")
        let base = local ? folder : (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        var template = Array(Paths.join(base, ".partner-export-scratch-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw OutputFile.failure(base, errno) }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        fchmod(descriptor, 0o600)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        fd = descriptor
        buffer.reserveCapacity(OutputFile.bufferSize)
    }

    deinit { close(fd) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        size += bytes.count
        if buffer.count >= OutputFile.bufferSize { try flush() }
    }

    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func flush() throws {
        try buffer.withUnsafeBytes { try OutputFile.writeAll(fd, $0, path: "a scratch file") }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension OutputFile {
    /// Appends everything written to `scratch` (in the kernel, `sendfile`, where it can: no copy through user memory).
    public func append(_ scratch: ScratchFile) throws {
        try flush()
        try scratch.flush()
        var offset: off_t = 0
        let total = off_t(scratch.size)
        while offset < total {
            var from = offset
            let copied = sendfile(fd, scratch.fd, &from, Int(min(total - offset, 1 << 30)))
            if copied > 0 {
                offset = from
                continue
            }
            if copied < 0 && errno == EINTR { continue }
            break  // not supported between these two (a pipe, a device): copy through memory
        }
        var chunk = [UInt8](repeating: 0, count: Self.bufferSize)
        while offset < total {
            let n = chunk.withUnsafeMutableBytes { pread(scratch.fd, $0.baseAddress, $0.count, offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw OutputFile.failure(path, n < 0 ? errno : EIO) }
            try chunk.withUnsafeBytes { try Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: path) }
            offset += off_t(n)
        }
        size += scratch.size
    }
}
