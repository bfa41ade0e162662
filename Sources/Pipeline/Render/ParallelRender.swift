import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Ledger

/// Minimise and render on every core: workers take chunks of rows from the reader, minimise and
/// render each chunk on their own (each with its own renderer), and the caller receives the
/// rendered chunks in the reader's order, so feeds stay in customer-id order.
///
/// Memory stays flat: the reader keeps a few row chunks in flight, and at most ``window`` rendered
/// chunks wait to be consumed.
///
/// Unchecked: every stored `var` is read and written under `lock` (a condition, which `Mutex` has not).
final class ParallelRender: @unchecked Sendable {
    /// Rendered chunks that may wait for the consumer (bounds memory, keeps workers busy).
    static let window = 4

    private let reader: ChunkedReader
    private let plan: ExportPlan
    private let consent: Bool
    /// Also hash each record and copy its key (change tracking).
    private let tracking: Bool
    private let samples: Int
    private let lock = NSCondition()
    private var done: [Int: RenderedChunk] = [:]
    /// Consumed chunks, kept for reuse: their buffers are allocated once per run.
    private var spare: [RenderedChunk] = []
    private var nextToConsume = 0
    private var workersLeft: Int
    private var failure: Error?
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    private let workers: Int

    init(reader: ChunkedReader, plan: ExportPlan, consent: Bool, tracking: Bool = false, samples: Int, workers: Int) {
        self.reader = reader
        self.plan = plan
        self.consent = consent
        self.tracking = tracking && plan.keyIndex != nil
        self.samples = samples
        self.workers = workers
        workersLeft = workers
    }

    /// Starts the workers; each builds its own renderer (a failure to is the render's, from ``next()``).
    func start() {
        for _ in 0..<workers {
            let thread = Thread { [self] in work() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// The next rendered chunk in order, or nil at the end.
    func next() throws -> RenderedChunk? {
        lock.lock()
        defer { lock.unlock() }
        while done[nextToConsume] == nil && workersLeft > 0 && failure == nil { lock.wait() }
        if let failure { throw failure }
        guard let chunk = done.removeValue(forKey: nextToConsume) else { return nil }
        nextToConsume += 1
        lock.broadcast()
        return chunk
    }

    /// Stops the workers (if still running) and waits for them and the reader.
    func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        lock.unlock()
        reader.stop()
        for _ in 0..<workers { finished.wait() }
    }

    private func work() {
        defer {
            lock.lock()
            workersLeft -= 1
            lock.broadcast()
            lock.unlock()
            finished.signal()
        }
        do {
            var renderer = try makeRenderer(for: plan.partner)
            var record = RecordBuffer()
            while let (sequence, rows) = try reader.nextNumbered() {
                // Do not run too far ahead of the consumer.
                lock.lock()
                while sequence >= nextToConsume + Self.window && !stopped { lock.wait() }
                let halt = stopped
                lock.unlock()
                if halt {
                    reader.recycle(consume rows)
                    return
                }
                let rendered = try render(rows, sequence: sequence, renderer: &renderer, record: &record)
                reader.recycle(consume rows)
                lock.lock()
                done[sequence] = rendered
                lock.broadcast()
                lock.unlock()
            }
        } catch {
            lock.lock()
            if failure == nil { failure = error }
            lock.broadcast()
            lock.unlock()
            reader.stop()
        }
    }

    /// Gives a consumed chunk back for reuse.
    func recycle(_ chunk: consuming RenderedChunk) {
        var chunk = chunk
        chunk.reset()
        lock.lock()
        spare.append(chunk)
        lock.unlock()
    }

    private func render<Renderer: FeedRenderer>(_ chunk: RowChunk, sequence: Int, renderer: inout Renderer,
                                                record: inout RecordBuffer) throws -> RenderedChunk {
        lock.lock()
        var out = spare.popLast() ?? RenderedChunk()
        lock.unlock()
        out.sequence = sequence
        let minimiser = plan.minimiser
        let keyIndex = plan.keyIndex ?? 0
        let keyField = plan.keyIndex.map { plan.partner.mapping.fields[$0].from }
        let scopes = plan.partner.contract.consent.count
        let columns = plan.columns.names.count
        try chunk.withRows { rows in
            for index in 0..<rows.count {
                let row = rows[index]
                out.eligible += 1
                if let reason = minimiser.minimise(row, into: &record) {
                    out.rejected.append(RejectedRecord(customerID: row.customerID, reason: reason))
                    continue
                }
                // A record the partner could not be told to forget does not leave: its key must have a value
                // (a NULL source is caught as required; an e-mail that normalises to nothing or is empty, here).
                if let keyField, !Self.hasValue(record, at: keyIndex) {
                    out.rejected.append(RejectedRecord(customerID: row.customerID, reason: .requiredValueMissing(field: keyField)))
                    continue
                }
                if out.samples.count < samples { out.samples.append(record.values.map { SampleValue(record.decoded($0)) }) }
                let start = out.bytes.count
                out.replaced += try record.replacedCharacters + renderer.appendRecord(record, to: &out.bytes)
                out.ends.append(out.bytes.count)
                if tracking {
                    // What the partner will hold: the record's bytes, hashed, and the key it knows the customer by.
                    var hasher = SHA256Hasher()
                    out.bytes.withUnsafeBytes { bytes in hasher.update(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count])) }
                    hasher.finalize { digest in out.digests.append(contentsOf: digest.prefix(ChangeSet.digestLength)) }
                    if case .text(let range) = record.values[keyIndex] {
                        out.keys.append(contentsOf: record.bytes[range])
                    }
                    out.keyEnds.append(out.keys.count)
                }
                out.ids.append(row.customerID)
                var presence: UInt64 = 0
                for (i, value) in record.values.enumerated() where value != .null { presence |= 1 << UInt64(i) }
                out.presence.append(presence)
                if consent {
                    for scope in 0..<scopes { Manifest.appendGrant(row.consentGrant(scope, columns: columns), to: &out.grants) }
                }
                out.grantEnds.append(out.grants.count)
            }
        }
        return out
    }
}

extension ParallelRender {
    /// Whether field `index` of `record` holds a non-empty value.
    static func hasValue(_ record: RecordBuffer, at index: Int) -> Bool {
        guard index < record.values.count else { return false }
        switch record.values[index] {
        case .null: return false
        case .text(let range): return !range.isEmpty
        case .number, .list: return true
        }
    }
}

/// One chunk's rendered records: fragments back to back, with where each ends. Recycled whole, so
/// that its buffers are allocated once per run.
struct RenderedChunk: Sendable {
    var sequence = 0
    var ids: [Int64] = []
    var ends: [Int] = []
    var bytes: [UInt8] = []
    var presence: [UInt64] = []
    /// Each record's consent grants in the manifest's wire form, back to back.
    var grants: [UInt8] = []
    var grantEnds: [Int] = []
    /// With change tracking: 16 digest bytes per record, and each record's key value.
    var digests: [UInt8] = []
    var keys: [UInt8] = []
    var keyEnds: [Int] = []
    var rejected: [RejectedRecord] = []
    var samples: [[SampleValue]] = []
    var eligible = 0
    var replaced = 0

    init() {
        bytes.reserveCapacity(1 << 18)
    }

    mutating func reset() {
        ids.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        presence.removeAll(keepingCapacity: true)
        grants.removeAll(keepingCapacity: true)
        grantEnds.removeAll(keepingCapacity: true)
        digests.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        keyEnds.removeAll(keepingCapacity: true)
        rejected.removeAll()
        samples.removeAll()
        eligible = 0
        replaced = 0
    }

    /// Calls `body` with each record in order; the fragment is valid during the call only.
    func forEach(_ body: (RenderedRecord) throws -> Void) rethrows {
        let tracked = keyEnds.count == ids.count
        try bytes.withUnsafeBytes { all in
            try grants.withUnsafeBytes { grantBytes in
                try digests.withUnsafeBytes { digestBytes in
                    try keys.withUnsafeBytes { keyBytes in
                        var start = 0
                        var grantStart = 0
                        var keyStart = 0
                        let none = UnsafeRawBufferPointer(start: nil, count: 0)
                        for i in 0..<ids.count {
                            let end = ends[i]
                            let grantEnd = grantEnds[i]
                            let keyEnd = tracked ? keyEnds[i] : 0
                            let digest = tracked ? UnsafeRawBufferPointer(rebasing: digestBytes[(i * ChangeSet.digestLength)..<((i + 1) * ChangeSet.digestLength)]) : none
                            try body(RenderedRecord(customerID: ids[i], fragment: UnsafeRawBufferPointer(rebasing: all[start..<end]),
                                                    grants: UnsafeRawBufferPointer(rebasing: grantBytes[grantStart..<grantEnd]),
                                                    presence: presence[i], digest: digest,
                                                    key: tracked ? UnsafeRawBufferPointer(rebasing: keyBytes[keyStart..<keyEnd]) : none))
                            start = end
                            grantStart = grantEnd
                            keyStart = keyEnd
                        }
                    }
                }
            }
        }
    }
}
