import ExportCore
import Foundation
import Ledger

/// `prune`: payload files (customer data at rest) and dry-run feeds past their retention, never those
/// an owed delivery still needs unless asked, never one in doubt; ledger rows past theirs.
public struct Retention {
    public struct Settings: Sendable {
        public var statePath: String
        /// The local folder of a PostgreSQL ledger (dry runs, checkpoints); a SQLite ledger's is its folder.
        public var stateFolder: String?
        public var payloadDays: Int
        public var ledgerDays: Int
        public var includeFailed: Bool
        public var dryRun: Bool
        public var time = TimeSource.system
        public var metrics: MetricsFile.Target?
        public var partners: [String] = []

        public init(statePath: String, payloadDays: Int, ledgerDays: Int, includeFailed: Bool, dryRun: Bool) {
            self.statePath = statePath
            self.payloadDays = payloadDays
            self.ledgerDays = ledgerDays
            self.includeFailed = includeFailed
            self.dryRun = dryRun
        }
    }

    /// What was (or would be) deleted.
    public struct Report: Sendable {
        public var payloads = 0
        public var strays = 0
        public var dryRuns = 0
        public var bytes = 0
        /// Owed deliveries whose payload was kept.
        public var kept: [String] = []
        /// Deliveries whose payload was found altered, kept as evidence.
        public var evidence: [String] = []
        public var failedRemovals: [String] = []
        public var ledger: (deliveries: Int, disclosures: Int, runs: Int)?
        /// The disclosure log's checkpoint signed after the prune.
        public var checkpoint: String?
        public var warnings: [ExportError] = []
    }

    let settings: Settings

    public init(_ settings: Settings) { self.settings = settings }

    public func prune() throws -> Report {
        let location = LedgerLocation(settings.statePath, stateFolder: settings.stateFolder)
        let folder = location.stateFolder
        if !location.isPostgres { try StateFolder.check(folder, create: false) }
        // A dry run deletes nothing, so it needs no lock: it can say what a prune would do while a run is on.
        let lock = settings.dryRun ? nil : try location.lock(now: Timestamps.rfc3339(settings.time.now()))
        defer { withExtendedLifetime(lock) {} }
        // A dry run, without the lock, only reads (it migrates nothing under a run of an older version).
        let ledger = try location.open(settings.dryRun ? .read : .write(create: false))
        // Nothing is deleted from a ledger whose log no longer extends what the signing key signed.
        let audit = Audit(files: Audit.Files(stateFolder: folder))
        if !settings.dryRun { try audit.checkHistory(ledger) }
        let payloads = location.payloads
        // The ledger's times are the run clock's; files are dated by the real clock, whatever the run clock says.
        let now = settings.time.now()
        let fileNow = Date()
        let payloadCutoff = Timestamps.rfc3339(now.addingTimeInterval(-Double(settings.payloadDays) * 86_400))
        let ledgerCutoff = Timestamps.rfc3339(now.addingTimeInterval(-Double(settings.ledgerDays) * 86_400))
        var report = Report()

        let (prunable, kept) = try ledger.payloadsToPrune(createdBefore: payloadCutoff, includeFailed: settings.includeFailed)
        report.kept = kept.filter(\.isOwed).map(\.id)
        report.evidence = kept.filter { !$0.isOwed }.map(\.id)
        for delivery in prunable {
            let removal = try payloads.prune(delivery, dryRun: settings.dryRun)
            report.bytes += removal.bytes
            if removal.removed {
                report.payloads += 1
                if !settings.dryRun { try ledger.markPayloadPruned(delivery, at: Timestamps.rfc3339(now)) }
            } else {
                report.failedRemovals.append(delivery.payloadPath)
            }
        }
        // Payloads no delivery refers to (left by a crash between storing and recording, or earlier versions' gzips).
        let strayCutoff = fileNow.addingTimeInterval(-Double(settings.payloadDays) * 86_400)
        for stray in try payloads.strays(storedBefore: strayCutoff, referenced: try ledger.payloadPaths()) {
            if try settings.dryRun || payloads.remove(stray) {
                report.bytes += stray.bytes
                report.strays += 1
            } else {
                report.failedRemovals.append(stray.path)
            }
        }
        let dryFolder = Paths.join(folder, "dry-run")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dryFolder)) ?? [] {
            let path = Paths.join(dryFolder, name)
            guard isOlder(path, than: fileNow, days: settings.payloadDays) else { continue }
            let bytes = Self.files(under: path).reduce(0) { $0 + Self.size($1) }
            if settings.dryRun {
                report.dryRuns += 1
                report.bytes += bytes
            } else if (try? FileManager.default.removeItem(atPath: path)) != nil {
                report.dryRuns += 1
                report.bytes += bytes
            } else {
                report.failedRemovals.append("dry-run/\(name)")
            }
        }
        if !settings.dryRun {
            report.ledger = try ledger.pruneLedger(createdBefore: ledgerCutoff)
            // After every prune, the log's checkpoint (its size is unchanged: pruned entries stay in the tree).
            do {
                let signed = try audit.checkpoint(ledger, at: Date())
                report.checkpoint = signed?.path
                if let warning = signed?.warning { report.warnings.append(warning) }
            } catch let error as ExportError where error.code == "audit.rollback" {
                throw error
            } catch {
                report.warnings.append(ExportError.wrapping(error).located("signing the disclosure log's checkpoint"))
            }
            if let target = settings.metrics, let failure = MetricsFile.write(ledger: ledger, partners: settings.partners, to: target) {
                report.warnings.append(failure)
            }
        }
        return report
    }

    static func size(_ path: String) -> Int {
        var info = stat()
        return lstat(path, &info) == 0 ? Int(info.st_size) : -1
    }

    private func isOlder(_ path: String, than now: Date, days: Int) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return Double(info.st_mtim.tv_sec) < now.timeIntervalSince1970 - Double(days) * 86_400
    }

    static func files(under folder: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
        var result: [String] = []
        while let name = enumerator.nextObject() as? String {
            let path = Paths.join(folder, name)
            var info = stat()
            if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG { result.append(path) }
        }
        return result
    }
}
