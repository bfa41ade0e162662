import CustomerSource
import ExportCore
import Foundation
import FeedRendering
import Ledger
import SafeFiles

/// A dry run for one partner: counts, the fields that would leave, sample records and optionally the
/// whole feed as one document. No network, no ledger, no writes except the `out` file.
public struct Preview {
    public let job: ExportJob
    /// What the partner holds (the ledger, read only), to count new, changed and unchanged records
    /// and the deletion notices due; nil when there is no ledger (everything is new).
    public let holdings: (any HoldingsLog)?

    public init(job: ExportJob, holdings: (any HoldingsLog)? = nil) {
        self.job = job
        self.holdings = holdings
    }

    /// - Parameters:
    ///   - samples: how many sample records to keep.
    ///   - out: where to write the whole feed (every record in one envelope), or nil.
    public func run(samples: Int, out: String?, generatedAt: String) throws -> PreviewReport {
        let partner = job.plan.partner
        var tally = ExportTally()
        var sampled: [[SampleValue]] = []
        var counts = EligibilityCounts(customers: 0, eligible: 0, excluded: [])
        var output: PreviewReport.Output?
        try job.snapshot {
            // Records the partner's XSD refuses would be rejected by a run: when a pass finds some, the
            // feed is rendered again without them, so that the file is exactly what the partner would get.
            var schemaRejected: [Int64: RejectedRecord] = [:]
            while true {
                sampled = []
                let counter = Tally()
                let pass = try renderWhole(out: out, generatedAt: generatedAt, excluded: schemaRejected, samples: samples,
                                           tally: counter)
                sampled = counter.value.samples
                output = pass.output
                tally = counter.value
                counts = tally.classification ?? counts
                if pass.violations.isEmpty { break }
                for rejected in pass.violations { schemaRejected[rejected.customerID] = rejected }
            }
        }
        var report = PreviewReport(partner: partner, counts: counts, tally: tally, samples: sampled, output: output)
        // The guard's numbers as a run computes them (one function, DeletionGuard).
        if let holds = try holdings?.holdingsCount(partner: partner.id), holds > 0 {
            report.deletionGuard = DeletionGuard(holds: holds, percent: partner.contract.maxDeletionsPercent, changes: tally.changes)
        }
        return report
    }

    private struct Pass {
        var output: PreviewReport.Output?
        /// Records found in breach of the XSD in this pass.
        var violations: [RejectedRecord] = []
    }

    /// Renders every record once, into `out` when given, leaving out the `excluded` customers.
    private func renderWhole(out: String?, generatedAt: String, excluded: [Int64: RejectedRecord], samples: Int,
                             tally: Tally) throws -> Pass {
        let partner = job.plan.partner
        let envelope = Envelope(partner: partner.id, run: "preview", delivery: "preview", batch: 1, generatedAt: generatedAt,
                                mode: partner.contract.mode)
        let renderer = job.renderer
        // The records go to a private scratch file first; the feed is then written head (with the exact
        // count), records, tail, so that it is exactly what a partner would get.
        let scratch = try out.map { try ScratchFile(near: $0) }
        let head = out == nil ? [] : try renderer.head(envelope, recordCount: 0, deletionCount: 0)
        let tracker = ChangeTracker(holdings: holdings, partner: partner.id, range: .all)
        let sendsUnchanged = partner.contract.mode == .snapshot
        // Where each record starts, to map XSD violations (by line) back to customers.
        let tracksLines = scratch != nil && job.schema != nil
        var lineStarts: [Int32] = []
        var lineIDs: [Int64] = []
        var line = 1 + newlines(head)
        var written = 0
        var bytes = 0
        var left: [RejectedRecord] = []
        // Notices for keys the partner holds that changed (they travel with the new records).
        var rekeyed: [DeletionNotice] = []
        try job.renderRecords(into: tally, tracking: holdings != nil, classify: true, samples: samples) { record in
            if let rejected = excluded[record.customerID] {
                left.append(rejected)
                return
            }
            let verdict = try tracker.classify(record)
            switch verdict.kind {
            case .new: tally.value.changes.new += 1
            case .changed: tally.value.changes.changed += 1
            case .unchanged: if !sendsUnchanged { return }
            }
            if let replaced = verdict.replacedKey {
                rekeyed.append(DeletionNotice(customerID: record.customerID, key: replaced, reason: .noLongerShared))
                tally.value.changes.rekeyed += 1
            }
            written += 1
            bytes += record.fragment.count
            guard let scratch else { return }
            if written > 1 {
                try scratch.write(renderer.separator)
                line += newlines(renderer.separator)
            }
            if tracksLines {
                lineStarts.append(Int32(clamping: line))
                lineIDs.append(record.customerID)
                line += newlines(record.fragment)
            }
            try scratch.write(record.fragment)
        }
        left.forEach { tally.value.reject($0) }
        tally.value.rendered = written
        tally.value.bytes = bytes
        tally.value.changes.unchanged = tracker.unchanged
        // The notices due, their reasons read in the same snapshot.
        var deletions: [UInt8] = []
        var noticeCount = 0
        func add(_ notice: DeletionNotice) {
            noticeCount += 1
            tally.value.changes.notices[notice.reason, default: 0] += 1
            guard out != nil else { return }
            if !deletions.isEmpty { deletions.append(contentsOf: renderer.deletionSeparator) }
            renderer.appendDeletion(notice, to: &deletions)
        }
        rekeyed.forEach(add)
        let gone = try tracker.finish()
        if let holdings, gone.count > 0 {
            let finder = NoticeFinder(plan: job.plan, source: job.source, holdings: holdings)
            tally.value.changes.unnamed = try finder.forEachNotice(try finder.due(gone)) { add($0) }
        }

        var pass = Pass()
        guard let scratch, let out else { return pass }
        let file = try OutputFile(path: out, seekable: job.schema != nil)
        try file.write(try renderer.head(envelope, recordCount: written, deletionCount: noticeCount))
        try file.append(scratch)
        try file.write(renderer.tail(deletions: deletions, count: noticeCount))
        pass.output = PreviewReport.Output(path: out, bytes: file.size, records: written, isFile: file.isFile)
        if let schema = job.schema {
            var seen: Set<Int64> = []
            try file.flush()
            for violation in schema.validateFile(file.readablePath) {
                guard violation.line > 0, let index = lineStarts.lastIndex(atOrBefore: violation.line) else {
                    throw BatchError.schema(partner: partner.id, batch: 1, violation: violation)
                }
                if seen.insert(lineIDs[index]).inserted {
                    pass.violations.append(RejectedRecord(customerID: lineIDs[index], reason: .schemaViolation(violation.message)))
                }
            }
        }
        // Only the pass without violations is the file the partner would get.
        if pass.violations.isEmpty { try file.commit() }
        return pass
    }

    private func newlines<Bytes: Sequence>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8 {
        bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}

/// A sample value: nil, text, a number or a list of texts.
public enum SampleValue: Sendable, Equatable {
    case null
    case text(String)
    case number(Int)
    case list([String])

    init(_ value: Any?) {
        switch value {
        case let text as String: self = .text(text)
        case let number as Int: self = .number(number)
        case let list as [String]: self = .list(list)
        default: self = .null
        }
    }
}

/// What `preview` found. Customer values appear only in `samples`, which the command masks unless
/// the operator asked for `--reveal`.
public struct PreviewReport: Sendable {
    public struct Output: Sendable {
        public let path: String
        public let bytes: Int
        public let records: Int
        /// A file of its own (mode 0600), not a device or a pipe.
        public var isFile = true
    }

    public let partner: Partner
    public let counts: EligibilityCounts
    public let tally: ExportTally
    public let samples: [[SampleValue]]
    public let output: Output?
    /// What the deletion guard would decide for a run now (nil without a ledger, or when nothing is held).
    public var deletionGuard: DeletionGuard?
}
