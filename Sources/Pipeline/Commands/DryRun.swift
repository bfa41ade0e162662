import CustomerSource
import ExportConfig
import ExportCore
import FeedRendering
import Foundation
import Ledger
import SafeFiles

/// `run --dry-run`: every batch of each partner rendered to files (mode 0600, folders 0700), nothing
/// sent, nothing recorded. Each partner's trouble stays its own.
public struct DryRun {
    public let configuration: Configuration
    public let sourcePath: String
    public let environment: [String: String]
    public let time: TimeSource

    public init(configuration: Configuration, sourcePath: String, environment: [String: String], time: TimeSource = .system) {
        self.configuration = configuration
        self.sourcePath = sourcePath
        self.environment = environment
        self.time = time
    }

    /// Renders `partners` under `folder/<partner>/batch-NNNNNN.<ext>`.
    /// With `holdings` (the ledger, read only), the feeds carry what a run would send: in changes mode
    /// only what changed, and in both modes the deletion notices due.
    public func run(_ partners: [Partner], folder: String?, stateFolder: String, holdings: (any HoldingsLog)? = nil) throws -> DryRunResult {
        try SourceCheck.check(sourcePath, model: configuration.source, partners: partners)
        let now = time.now()
        let runID = Timestamps.identifier("dry", at: now, randomBytes: 3)
        let root = folder ?? Paths.join(stateFolder, "dry-run/\(runID)")
        var seen: Set<String> = []
        let entries = partners.filter { seen.insert($0.id).inserted }.map { partner -> DryRunResult.Part in
            let partnerFolder = Paths.join(root, partner.id)
            do {
                let plan = try PreparedPartner.plan(partner, environment: environment)
                let job = try ExportJob(plan: plan, source: try CustomerDatabase(path: sourcePath, model: configuration.source),
                                        schema: try SchemaCache.shared.schema(for: partner, in: configuration))
                try PrivateFolder.create(partnerFolder)
                let ext = partner.contract.format.fileExtension
                let tally = try job.snapshot {
                    func write(_ batch: FinishedBatch) throws {
                        let name = String(format: "batch-%06d.%@", batch.number, ext)
                        try OutputFile.write(batch.parts, to: Paths.join(partnerFolder, name))
                    }
                    var gone = GoneCustomers()
                    var tally = try job.runBatches(runID: runID, generatedAt: Timestamps.rfc3339(now), holdings: holdings,
                                                   deliveryID: { "\(runID)-b\($0)" }, gone: { gone = $0 }, handle: write)
                    // The notices due follow the records in batches of their own, as in a run.
                    if let holdings {
                        var next = tally.batches
                        let notices = try job.runNoticeBatches(
                            runID: runID, generatedAt: Timestamps.rfc3339(now), gone: gone, holdings: holdings,
                            number: { _ in
                                next += 1
                                return next
                            }, deliveryID: { "\(runID)-b\($0)" }, handle: write)
                        for (reason, count) in notices.counts { tally.changes.notices[reason, default: 0] += count }
                        tally.batches += notices.batches
                        tally.bytes += notices.bytes
                    }
                    return tally
                }
                return DryRunResult.Part(partner: partner.id, folder: partnerFolder, tally: tally, error: nil)
            } catch {
                return DryRunResult.Part(partner: partner.id, folder: partnerFolder, tally: nil,
                                         error: ExportError.wrapping(error).located("partner \(partner.id)"))
            }
        }
        return DryRunResult(run: runID, folder: root, partners: entries)
    }
}

/// What a dry run rendered, per partner: its tally (counts, rejections, notices), or what stopped it.
public struct DryRunResult: Sendable {
    public struct Part: Sendable {
        public let partner: String
        public let folder: String
        public let tally: ExportTally?
        public let error: ExportError?
    }

    public let run: String
    public let folder: String
    public let partners: [Part]
}
