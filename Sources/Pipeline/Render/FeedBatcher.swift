import ExportCore
import FeedRendering
import Foundation
import Ledger

/// A finished feed: one batch, ready to be written or delivered.
public struct FinishedBatch: Sendable {
    public let envelope: Envelope
    /// The feed in pieces (envelope head, records, tail), so that a batch is never copied whole.
    public internal(set) var parts: [[UInt8]]
    /// The customers whose records are in the payload, in order.
    public let customerIDs: [Int64]
    /// Each record's consent grants in the manifest's wire form (empty unless asked for).
    public let grants: [UInt8]
    /// Where the records sit in the feed, without the envelope.
    public let recordsRange: Range<Int>

    /// The records alone.
    public var records: [UInt8] { Array(payload[recordsRange]) }
    /// The records and everything after them (the notices): what a rerun compares with what it owes.
    public var recordsAndNotices: [UInt8] { Array(payload[recordsRange.lowerBound...]) }
    /// Non-null values per mapping field, in field order: what actually leaves.
    public let fieldCounts: [Int]
    /// The encoded ``Ledger/ChangeSet``: new and changed records' keys and digests, and the notices.
    public var changes: [UInt8] = []
    /// Deletion notices it carries, by reason.
    public var notices: [DeletionReason: Int] = [:]
    /// Records in it that are new or changed for the partner (change tracking).
    public var newRecords = 0
    public var changedRecords = 0
    /// The last customer id it covers, a record's or a notice's.
    public var lastID: Int64?

    public var noticeCount: Int { notices.values.reduce(0, +) }

    public var number: Int { envelope.batch }

    /// The feed's size in bytes.
    public var byteCount: Int { parts.reduce(0) { $0 + $1.count } }

    /// The feed as one buffer (tests, small feeds).
    public var payload: [UInt8] { parts.flatMap { $0 } }

    /// The feed's bytes as they are sent and stored.
    public var feed: FeedBytes { FeedBytes(parts: parts) }
}

/// Cuts rendered records into feeds of at most `max_records` records and `max_bytes` bytes (the
/// envelope included), and validates each XML feed against the partner's XSD before it is handed on.
struct FeedBatcher {
    let partner: Partner
    let renderer: any FeedRenderer
    let schema: XSDSchema?
    let runID: String
    let generatedAt: String
    /// The batch number of the k-th batch (1-based).
    let numbering: (Int) -> Int
    let deliveryID: (Int) -> String
    let limits: BatchLimits

    private var count = 0
    private var envelope: Envelope?
    /// Room the envelope takes, reserved when a batch starts.
    private var overhead = 0
    private var body: [UInt8] = []
    private var starts: [Int] = []
    private var ids: [Int64] = []
    private var grants: [UInt8] = []
    private var grantStarts: [Int] = []
    private var presence: [UInt64] = []
    /// Per record with change tracking: how it stands (``ChangeTracker/Kind``), its digest and key.
    private var kinds: [UInt8] = []
    private var digests: [UInt8] = []
    private var keys: [UInt8] = []
    private var keyStarts: [Int] = []
    /// Deletion notices of the current batch, rendered back to back, and the notices themselves.
    private var noticeBody: [UInt8] = []
    private var notices: [DeletionNotice] = []
    /// A records buffer given back by ``reuse(_:)``, so that batches do not allocate afresh.
    private var spare: [UInt8] = []
    /// Where to find a spare buffer when none was given back (batches handed to another thread come
    /// back through it once sent).
    var supply: (() -> [UInt8]?)?

    init(partner: Partner, renderer: any FeedRenderer, schema: XSDSchema?, runID: String, generatedAt: String,
         number: @escaping (Int) -> Int = { $0 }, deliveryID: @escaping (Int) -> String) {
        self.partner = partner
        self.renderer = renderer
        self.schema = schema
        self.runID = runID
        self.generatedAt = generatedAt
        numbering = number
        self.deliveryID = deliveryID
        limits = partner.contract.delivery.batch
    }

    /// The rejection for a record that cannot fit in any batch on its own, or nil.
    func tooLarge(_ record: RenderedRecord) -> RejectedRecord? {
        // The envelope of a batch is at most a few hundred bytes; 1 KiB is a safe bound.
        let bound = record.fragment.count + 1024
        guard bound > limits.maxBytes else { return nil }
        return RejectedRecord(customerID: record.customerID, reason: .tooLarge(bytes: record.fragment.count, limit: limits.maxBytes))
    }

    /// Bytes the notices add to the tail.
    private var noticeBytes: Int { notices.isEmpty ? 0 : noticeBody.count + 2 }

    /// Adds a record (with `kind` when changes are tracked, and the key the partner holds it under
    /// when that changed: a notice for the old key travels with the record); returns the previous
    /// batch when this record did not fit in it.
    mutating func add(_ record: RenderedRecord, kind: ChangeTracker.Kind? = nil, replacedKey: [UInt8]? = nil,
                      tally: Tally) throws -> FinishedBatch? {
        var finished: FinishedBatch?
        var rekey: [UInt8] = []
        let replaced = replacedKey.map { DeletionNotice(customerID: record.customerID, key: $0, reason: .noLongerShared) }
        if let replaced { renderer.appendDeletion(replaced, to: &rekey) }
        if !ids.isEmpty || !notices.isEmpty {
            let size = overhead + body.count + renderer.separator.count + record.fragment.count + noticeBytes
                + (replaced == nil ? 0 : rekey.count + renderer.deletionSeparator.count + 2)
            if ids.count + notices.count >= limits.maxRecords || size > limits.maxBytes {
                finished = try finish(tally: tally)
            }
        }
        if let replaced {
            if !notices.isEmpty { noticeBody.append(contentsOf: renderer.deletionSeparator) }
            noticeBody.append(contentsOf: rekey)
            notices.append(replaced)
        }
        if envelope == nil { try start() }
        if !ids.isEmpty { body.append(contentsOf: renderer.separator) }
        starts.append(body.count)
        body.append(contentsOf: record.fragment)
        ids.append(record.customerID)
        presence.append(record.presence)
        grantStarts.append(grants.count)
        grants.append(contentsOf: record.grants)
        if let kind {
            kinds.append(kind.rawValue)
            digests.append(contentsOf: record.digest)
            keyStarts.append(keys.count)
            keys.append(contentsOf: record.key)
        }
        return finished
    }

    /// Adds a deletion notice after the records; returns the previous batch when it did not fit.
    mutating func add(_ notice: DeletionNotice, tally: Tally) throws -> FinishedBatch? {
        var rendered: [UInt8] = []
        renderer.appendDeletion(notice, to: &rendered)
        var finished: FinishedBatch?
        if !ids.isEmpty || !notices.isEmpty {
            let size = overhead + body.count + noticeBytes + renderer.deletionSeparator.count + rendered.count + 2
            if ids.count + notices.count >= limits.maxRecords || size > limits.maxBytes {
                finished = try finish(tally: tally)
            }
        }
        if envelope == nil { try start() }
        if !notices.isEmpty { noticeBody.append(contentsOf: renderer.deletionSeparator) }
        noticeBody.append(contentsOf: rendered)
        notices.append(notice)
        return finished
    }

    private mutating func start() throws {
        count += 1
        let number = numbering(count)
        let envelope = Envelope(partner: partner.id, run: runID, delivery: deliveryID(number), batch: number,
                                generatedAt: generatedAt, mode: partner.contract.mode)
        self.envelope = envelope
        // The tail with notices also spells out their count: a few digits more than the empty tail's.
        overhead = try renderer.head(envelope, recordCount: limits.maxRecords, deletionCount: limits.maxRecords).count
            + renderer.emptyTail.count + 16
    }

    /// The batch's change set, its counts of new and changed records, and its last id.
    private func changeSummary() -> (changes: [UInt8], new: Int, changed: Int, notices: [DeletionReason: Int], last: Int64?) {
        var writer = ChangeSet.Writer()
        var new = 0
        var changed = 0
        if kinds.count == ids.count {
            keys.withUnsafeBytes { keyBytes in
                digests.withUnsafeBytes { digestBytes in
                    for (i, kind) in kinds.enumerated() where kind != ChangeTracker.Kind.unchanged.rawValue {
                        if kind == ChangeTracker.Kind.new.rawValue { new += 1 } else { changed += 1 }
                        let keyEnd = i + 1 < keyStarts.count ? keyStarts[i + 1] : keys.count
                        writer.record(ids[i], key: UnsafeRawBufferPointer(rebasing: keyBytes[keyStarts[i]..<keyEnd]),
                                      digest: UnsafeRawBufferPointer(rebasing: digestBytes[(i * ChangeSet.digestLength)..<((i + 1) * ChangeSet.digestLength)]))
                    }
                }
            }
        }
        var reasons: [DeletionReason: Int] = [:]
        for notice in notices {
            writer.notice(notice)
            reasons[notice.reason, default: 0] += 1
        }
        var encoded: [UInt8] = []
        writer.finish(into: &encoded)
        // A batch's span ends at its last record; a batch of notices alone has none (it belongs to the feed's end).
        return (encoded, new, changed, reasons, ids.last)
    }

    /// Takes back the records buffer of a batch that has been written (not when batches come back
    /// through ``supply``: the buffer is still being sent, and taking it would copy it).
    mutating func reuse(_ batch: inout FinishedBatch) {
        guard supply == nil, batch.parts.count == 3 else { return }
        var records: [UInt8] = []
        swap(&records, &batch.parts[1])
        records.removeAll(keepingCapacity: true)
        spare = records
    }

    /// Closes the current batch (if it holds records): renders the envelope, validates, hands it back.
    mutating func finish(tally: Tally) throws -> FinishedBatch? {
        guard let envelope, !ids.isEmpty || !notices.isEmpty else { return nil }
        defer {
            self.envelope = nil
            body.removeAll(keepingCapacity: true)
            starts.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
            grants.removeAll(keepingCapacity: true)
            grantStarts.removeAll(keepingCapacity: true)
            presence.removeAll(keepingCapacity: true)
            kinds.removeAll(keepingCapacity: true)
            digests.removeAll(keepingCapacity: true)
            keys.removeAll(keepingCapacity: true)
            keyStarts.removeAll(keepingCapacity: true)
            noticeBody.removeAll(keepingCapacity: true)
            notices.removeAll(keepingCapacity: true)
        }
        let tail = renderer.tail(deletions: noticeBody, count: notices.count)
        if schema == nil {
            // Hand the records over without copying them; the next batch starts a new buffer.
            let records = body
            body = spare.capacity > 0 ? spare : (supply?() ?? [])
            spare = []
            // Without a buffer to reuse, one of the right size at once (growing by doubling faults in twice the
            // pages), with some room to spare: the next batch is often a little larger.
            if body.capacity < records.count { body.reserveCapacity(records.count + records.count / 8) }
            let head = try renderer.head(envelope, recordCount: ids.count, deletionCount: notices.count)
            return finished(FinishedBatch(envelope: envelope, parts: [head, records, tail], customerIDs: ids, grants: grants,
                                          recordsRange: head.count..<(head.count + records.count), fieldCounts: fieldCounts()))
        }
        var payload = try assemble(envelope, tail: tail)
        if let schema {
            // Records that break the schema are rejected one by one and the feed is rebuilt without them.
            while true {
                let violations = payload.withUnsafeBytes { schema.validate($0) }
                if violations.isEmpty { break }
                let headLines = try lineCount(renderer.head(envelope, recordCount: ids.count, deletionCount: notices.count))
                let offending = try recordsAt(violations, headLines: headLines, envelope: envelope)
                for (index, violation) in offending.sorted(by: { $0.key > $1.key }) {
                    tally.value.reject(RejectedRecord(customerID: ids[index], reason: .schemaViolation(violation.message)))
                    remove(index)
                }
                if ids.isEmpty && notices.isEmpty { return nil }
                payload = try assemble(envelope, tail: tail)
            }
        }
        return finished(FinishedBatch(envelope: envelope, parts: [payload], customerIDs: ids, grants: grants,
                                      recordsRange: (payload.count - tail.count - body.count)..<(payload.count - tail.count),
                                      fieldCounts: fieldCounts()))
    }

    private func finished(_ batch: FinishedBatch) -> FinishedBatch {
        var batch = batch
        let summary = changeSummary()
        batch.changes = summary.changes
        batch.newRecords = summary.new
        batch.changedRecords = summary.changed
        batch.notices = summary.notices
        batch.lastID = summary.last
        return batch
    }

    /// Non-null values per field in the current batch.
    private func fieldCounts() -> [Int] {
        (0..<partner.mapping.fields.count).map { i in presence.reduce(0) { $0 + (($1 >> UInt64(i)) & 1 == 1 ? 1 : 0) } }
    }

    private func assemble(_ envelope: Envelope, tail: [UInt8]) throws -> [UInt8] {
        var payload = try renderer.head(envelope, recordCount: ids.count, deletionCount: notices.count)
        payload.reserveCapacity(payload.count + body.count + tail.count)
        payload.append(contentsOf: body)
        payload.append(contentsOf: tail)
        return payload
    }

    /// Maps violations to the records holding their lines; throws when one lies outside every record.
    private func recordsAt(_ violations: [SchemaViolation], headLines: Int, envelope: Envelope) throws -> [Int: SchemaViolation] {
        // The first line of record k is headLines + 1 + (newlines in the body before it).
        var firstLines: [Int] = []
        var line = headLines + 1
        var position = 0
        for start in starts {
            line += body[position..<start].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            position = start
            firstLines.append(line)
        }
        // The last record's last line: below it come the notices and the end, which no record owns.
        let lastLine = (firstLines.last ?? line) + body[position...].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        var result: [Int: SchemaViolation] = [:]
        for violation in violations {
            guard violation.line >= (firstLines.first ?? .max), violation.line <= lastLine,
                  let index = firstLines.lastIndex(atOrBefore: violation.line) else {
                throw BatchError.schema(partner: partner.id, batch: envelope.batch, violation: violation)
            }
            if result[index] == nil { result[index] = violation }
        }
        return result
    }

    private mutating func remove(_ index: Int) {
        let start = starts[index]
        let end = index + 1 < starts.count ? starts[index + 1] : body.count
        let separator = renderer.separator.count
        // Remove the record and one separator next to it.
        let range: Range<Int>
        if index + 1 < starts.count { range = start..<end } else if index > 0 { range = (start - separator)..<end } else { range = start..<end }
        body.removeSubrange(range)
        let removed = range.count
        starts.remove(at: index)
        for k in index..<starts.count { starts[k] -= removed }
        ids.remove(at: index)
        presence.remove(at: index)
        if kinds.count > index {
            kinds.remove(at: index)
            digests.removeSubrange((index * ChangeSet.digestLength)..<((index + 1) * ChangeSet.digestLength))
            let keyEnd = index + 1 < keyStarts.count ? keyStarts[index + 1] : keys.count
            let keyRange = keyStarts[index]..<keyEnd
            keys.removeSubrange(keyRange)
            keyStarts.remove(at: index)
            for k in index..<keyStarts.count { keyStarts[k] -= keyRange.count }
        }
        let grantEnd = index + 1 < grantStarts.count ? grantStarts[index + 1] : grants.count
        let grantRange = grantStarts[index]..<grantEnd
        grants.removeSubrange(grantRange)
        grantStarts.remove(at: index)
        for k in index..<grantStarts.count { grantStarts[k] -= grantRange.count }
    }

    private func lineCount(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
}

extension Array where Element: BinaryInteger {
    /// In an ascending array of first lines, the index of the record holding `line`: the last
    /// element not after it (binary search: a feed can hold a million records and thousands of
    /// violations).
    func lastIndex(atOrBefore line: Int) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if Int(self[middle]) <= line { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? low - 1 : nil
    }
}

/// A batch that cannot be sent at all: an XSD violation outside every record.
enum BatchError {
    static func schema(partner: String, batch: Int, violation: SchemaViolation) -> ExportError {
        .envelopeSchema("partner \(partner): batch \(batch) does not conform to its XSD outside any record (\(violation)); "
                        + "the XSD and the mapping disagree about the envelope or the deletion notices (the root's mode and "
                        + "deletion-count, the <deletion> elements after the records): fix one of them")
    }
}

