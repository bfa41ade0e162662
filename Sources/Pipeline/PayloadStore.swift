import Delivery
import ExportCore
import Foundation
import Ledger

/// Payload files beside the ledger: `payloads/<partner>/<delivery id>.<json|xml>` (mode 0600, folders
/// 0700), kept for resends and reruns, checked against their SHA-256 before every reuse.
public struct PayloadStore: Sendable {
    /// The state folder (holding the ledger).
    public let folder: String

    public init(folder: String) { self.folder = folder }

    public func absolute(_ relative: String) -> String { (folder as NSString).appendingPathComponent(relative) }

    /// Writes a batch's payload durably; returns its path relative to the state folder and its SHA-256.
    public func write(_ batch: FinishedBatch, partner: String, fileExtension: String) throws -> (path: String, sha256: String) {
        let relative = "payloads/\(partner)/\(batch.envelope.delivery).\(fileExtension)"
        try Folders.create(absolute("payloads"))
        try Folders.create(absolute("payloads/\(partner)"))
        try OutputFile.write(batch.parts, to: absolute(relative))
        return (relative, batch.sha256)
    }

    /// The payload of `delivery`, after checking it is the very bytes the ledger recorded.
    public func verified(_ delivery: DeliveryRecord) throws -> String {
        let path = absolute(delivery.payloadPath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DeliveryError.payload("the payload of delivery \(delivery.id) is missing (\(path)); it cannot be resent as it was")
        }
        guard Digest.sha256Hex(file: path) == delivery.sha256 else {
            throw DeliveryError.payload("the payload of delivery \(delivery.id) (\(path)) is not the bytes the ledger recorded "
                                        + "(SHA-256 differs); it will not be sent")
        }
        return path
    }

    /// The records `delivery` sent (its payload without the envelope), after checking the payload.
    public func records(of delivery: DeliveryRecord) throws -> [UInt8] {
        let path = try verified(delivery)
        guard let data = FileManager.default.contents(atPath: path), delivery.recordsRange.upperBound <= data.count else {
            throw DeliveryError.payload("cannot read the payload of delivery \(delivery.id)")
        }
        return Array(data[delivery.recordsRange])
    }

    /// The files a delivery's payload may occupy: the feed, and its gzip when one was made.
    public func files(of delivery: DeliveryRecord) -> [String] {
        let path = absolute(delivery.payloadPath)
        return [path, path + ".gz"]
    }

    /// Deletes the payload of a delivery that nothing will send or read again.
    public func discard(_ delivery: DeliveryRecord) {
        for path in files(of: delivery) { unlink(path) }
    }

    /// What goes on the wire for `delivery`: the payload, or its gzip (made once, beside it).
    public func body(for delivery: DeliveryRecord, payload: String) throws -> String {
        guard delivery.gzip else { return payload }
        let gz = payload + ".gz"
        if !FileManager.default.fileExists(atPath: gz) {
            try Gzip.compress(file: payload, to: gz + ".partial")
            guard rename(gz + ".partial", gz) == 0 else { throw DeliveryError.payload("cannot move \(gz)") }
        }
        return gz
    }
}

/// RFC 3339 times and the ids built from them (UTC, without Foundation's formatters).
public enum Timestamps {
    public static func rfc3339(_ date: Date) -> String { UTCTime.format(date.timeIntervalSince1970) }

    /// RFC 3339 with milliseconds, for the ledger's start and end times (durations).
    public static func precise(_ date: Date) -> String { UTCTime.format(date.timeIntervalSince1970, milliseconds: true) }

    public static func parse(_ text: String) -> Date? { UTCTime.parse(text).map { Date(timeIntervalSince1970: $0) } }

    /// `20261127T020000Z`.
    public static func compact(_ date: Date) -> String {
        rfc3339(date).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }

    /// A new id: `<prefix>_<time>_<random hex>`, sortable by time.
    public static func identifier(_ prefix: String, at date: Date, randomBytes: Int = 6) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = HexText.of((0..<randomBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return "\(prefix)_\(compact(date))_\(random)"
    }
}
