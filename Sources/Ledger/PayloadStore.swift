import ExportCore
import Foundation
import SafeFiles

/// Where the bytes of every delivery are kept for resends and reruns, checked against the SHA-256 the
/// ledger recorded before every reuse: a mismatch sends nothing and keeps the evidence.
///
/// ```swift
/// let path = try store.store(feed, partner: "acme", delivery: "dlv_…", fileExtension: "json")
/// let bytes = try store.load(delivery)    // the very bytes recorded, or a payload.* error
/// ```
public protocol PayloadStore: Sendable {
    /// Stores a feed durably; returns where, as the ledger records it.
    func store(_ feed: FeedBytes, partner: String, delivery: String, fileExtension: String) throws -> String
    /// The stored feed of `delivery`, after checking it is the very bytes the ledger recorded.
    func load(_ delivery: DeliveryRecord) throws -> FeedBytes
    /// Deletes what nothing will send or read again.
    func discard(_ delivery: DeliveryRecord)
    /// `prune`: removes the payload of `delivery` (or, with `dryRun`, only measures it).
    func prune(_ delivery: DeliveryRecord, dryRun: Bool) throws -> PayloadRemoval
    /// `prune`: payloads stored before `cutoff` that no delivery refers to (left by a crash between
    /// storing and recording, or earlier versions' gzips).
    func strays(storedBefore cutoff: Date, referenced: Set<String>) throws -> [StoredPayload]
    /// `prune`: removes a stray; false when it could not be removed.
    func remove(_ stray: StoredPayload) throws -> Bool
}

/// What pruning a payload freed (or would): its size, and whether every part of it is gone.
public struct PayloadRemoval: Sendable, Equatable {
    public var bytes: Int
    public var removed: Bool
}

/// A stored payload, named as the ledger would record it.
public struct StoredPayload: Sendable, Equatable {
    public var path: String
    public var bytes: Int
}

/// Payload files beside the ledger: `payloads/<partner>/<delivery id>.<json|xml>` (mode 0600, folders
/// 0700, created without following links).
public struct FilePayloadStore: PayloadStore {
    /// The state folder (holding the ledger).
    public let folder: String
    /// Stored payloads larger than this are refused on load (a feed is at most `max_bytes`).
    static let largest = 1 << 31

    public init(folder: String) { self.folder = folder }

    public func absolute(_ relative: String) -> String { Paths.join(folder, relative) }

    public func store(_ feed: FeedBytes, partner: String, delivery: String, fileExtension: String) throws -> String {
        let relative = "payloads/\(partner)/\(delivery).\(fileExtension)"
        try PrivateFolder.create(absolute("payloads"))
        try PrivateFolder.create(absolute("payloads/\(partner)"))
        try OutputFile.write(feed.parts, to: absolute(relative))
        return relative
    }

    public func load(_ delivery: DeliveryRecord) throws -> FeedBytes {
        let path = absolute(delivery.payloadPath)
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT {
                throw ExportError.payloadMissing("the payload of delivery \(delivery.id) is missing (\(path)); it cannot be sent "
                                                 + "as it was recorded")
            }
            throw ExportError.payloadMismatch("the payload of delivery \(delivery.id) (\(path)) cannot be opened "
                                              + "(\(String(cString: strerror(errno)))); nothing was sent")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) < Self.largest else {
            throw ExportError.payloadMismatch("the payload of delivery \(delivery.id) (\(path)) is not a regular file of the "
                                              + "size recorded; nothing was sent and it is kept as evidence")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            offset += n
        }
        let feed = FeedBytes(Array(bytes[0..<offset]))
        guard offset == delivery.bytes, feed.sha256 == delivery.sha256 else {
            throw ExportError.payloadMismatch("the payload of delivery \(delivery.id) (\(path)) is not the bytes the ledger "
                                              + "recorded (SHA-256 differs); nothing was sent and the file is kept as evidence")
        }
        return feed
    }

    /// The files a delivery's payload may occupy (earlier versions kept its gzip beside it).
    func files(of delivery: DeliveryRecord) -> [String] {
        let path = absolute(delivery.payloadPath)
        return [path, path + ".gz"]
    }

    public func discard(_ delivery: DeliveryRecord) {
        for path in files(of: delivery) { unlink(path) }
    }

    public func prune(_ delivery: DeliveryRecord, dryRun: Bool) -> PayloadRemoval {
        var removal = PayloadRemoval(bytes: 0, removed: true)
        for path in files(of: delivery) {
            let (bytes, removed) = Self.remove(path, dryRun: dryRun)
            removal.bytes += bytes
            removal.removed = removal.removed && removed
        }
        return removal
    }

    public func strays(storedBefore cutoff: Date, referenced: Set<String>) -> [StoredPayload] {
        let root = absolute("payloads")
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var result: [StoredPayload] = []
        while let name = enumerator.nextObject() as? String {
            var info = stat()
            guard lstat(Paths.join(root, name), &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                  Double(info.st_mtim.tv_sec) < cutoff.timeIntervalSince1970 else { continue }
            let relative = "payloads/" + name
            // A gzip beside a payload is an earlier version's copy, never referenced itself.
            if relative.hasSuffix(".gz") || !referenced.contains(relative) {
                result.append(StoredPayload(path: relative, bytes: Int(info.st_size)))
            }
        }
        return result
    }

    public func remove(_ stray: StoredPayload) -> Bool {
        unlink(absolute(stray.path)) == 0 || errno == ENOENT
    }

    /// Deletes a file (unless `dryRun`); its size, and whether it is gone (or would be). A missing file is gone.
    private static func remove(_ path: String, dryRun: Bool) -> (Int, Bool) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return (0, true) }
        if dryRun { return (Int(info.st_size), true) }
        return (Int(info.st_size), unlink(path) == 0 || errno == ENOENT)
    }
}
