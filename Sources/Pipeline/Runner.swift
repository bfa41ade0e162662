import CustomerSource
import ExportConfig
import ExportCore
import Foundation
import Ledger
import Reports

/// The batch job as one call: `run PARTNER…`, `run --all`, `run --due`, `run --join` and `rerun` all
/// come here and share one path. Under the state folder's lock it opens the ledger, marks runs a dead
/// process left `running` as interrupted, records the run, runs each partner (side by side, a small
/// bound; batches in order within each) and records how each ended, then writes the metrics file.
/// With a PostgreSQL ledger a run is shared by whichever processes work on it (``runShared(_:)``,
/// SharedRun.swift): each of its worker threads runs one shard of a partner's feed at a time.
///
/// ```swift
/// let report = try Runner(settings).run(.partners(["acme-offers"], trigger: .manual))
/// ```
public final class Runner: @unchecked Sendable {
    public struct Settings: Sendable {
        public var configuration: Configuration
        public var sourcePath: String
        /// The ledger: a SQLite file, or a `postgresql://` URL (``LedgerLocation``).
        public var statePath: String
        /// The local folder of a PostgreSQL ledger (metrics, checkpoints); a SQLite ledger's is its folder.
        public var stateFolder: String?
        /// Secrets are read from here (the process environment in production).
        public var environment: [String: String]
        /// Partners delivered at the same time.
        public var parallel: Int = 2
        public var policy = RetryPolicy()
        public var time = TimeSource.system
        public var random: any RandomSource = SystemRandomSource()
        public var events = RunEvents.none
        public var transport: TransportFactory = Transports.https
        public var metrics: MetricsFile.Target?
        /// Send deletion notices even beyond a partner's `max_deletions_percent` (`--allow-deletions`).
        public var allowDeletions = false
        /// A shared run's items are held under a lease this long (renewed by a heartbeat); an item whose
        /// holder did not renew it is taken over after it ran out (`--lease-seconds`).
        public var leaseSeconds = 60
        /// How this process is named as a worker of a shared run (default: `HOST pid N`).
        public var worker: String?

        public init(configuration: Configuration, sourcePath: String, statePath: String, environment: [String: String]) {
            self.configuration = configuration
            self.sourcePath = sourcePath
            self.statePath = statePath
            self.environment = environment
        }
    }

    /// What to run.
    public enum Request: Sendable {
        /// These partners (a `run`): each renders a new feed of every eligible record.
        case partners([Partner], trigger: RunTrigger)
        /// The partners whose schedule came due since their last completed run.
        case due
        /// Complete the feed of every partner that is owed something (optionally one partner's).
        case rerunFailed(partner: String?)
        /// Complete the feeds these owed deliveries belong to.
        case rerunDeliveries([String])
        /// Help with the shared run in progress (a PostgreSQL ledger): take its items until it is done.
        case join
    }

    let settings: Settings
    /// What went wrong beside the run itself (the metrics file could not be written).
    public private(set) var warnings: [ExportError] = []
    /// The checkpoint of the disclosure log signed after the run (nil without a signing key).
    public private(set) var checkpoint: String?
    /// Where the signing key was looked for, when there was none (so nothing was signed).
    public private(set) var missingSigningKey: String?

    private let warningsLock = NSLock()

    public init(_ settings: Settings) { self.settings = settings }

    /// Adds a warning (from any thread).
    func warn(_ warning: ExportError) {
        warningsLock.lock()
        warnings.append(warning)
        warningsLock.unlock()
    }

    var location: LedgerLocation { LedgerLocation(settings.statePath, stateFolder: settings.stateFolder) }
    var stateFolder: String { location.stateFolder }

    public func run(_ request: Request) throws -> RunReport {
        // With a PostgreSQL ledger a run is shared: several processes, on several machines, may work on it.
        switch request {
        case .partners, .due, .join:
            if location.isPostgres { return try runShared(request) }
            if case .join = request {
                throw ExportError.usage("run --join helps with a run shared by several workers, which needs a PostgreSQL ledger "
                                        + "(--state postgresql://…); --state \(settings.statePath) names a SQLite ledger")
            }
        case .rerunFailed, .rerunDeliveries: break
        }
        try checkSource()
        // The source's file and keys before anything is written; the columns once the partners are known.
        try SourceCheck.check(settings.sourcePath, partners: [])
        try StateFolder.check(stateFolder, create: true)
        let now = settings.time.now()
        let location = location
        let lock = try takeLock(now: now, shared: false)
        defer { withExtendedLifetime(lock) {} }
        let ledger = try location.open(.write(create: true))
        // A PostgreSQL lock lives in a session the server can end: checked before every attempt.
        if let held = lock as? PostgresRunLock { ledger.writeGuard = { try held.check() } }
        // Nothing goes out over a ledger whose log no longer extends what the signing key signed.
        try Audit(files: auditFiles).checkHistory(ledger)
        _ = try ledger.markInterruptedRuns(at: Timestamps.precise(now))

        let (partners, mode, trigger, empty) = try select(request, ledger: ledger, now: now)
        try SourceCheck.check(settings.sourcePath, partners: partners)
        guard !partners.isEmpty else {
            var report = RunReport(run: nil, trigger: trigger.rawValue, status: "nothing-to-do", startedAt: Timestamps.precise(now),
                                   finishedAt: nil, durationSeconds: nil, partners: [], message: empty)
            if mode == .complete { report.noticesDueElsewhere = noticesDue(besides: [], ledger: ledger) }
            writeMetrics(ledger)
            return report
        }
        let runID = Timestamps.identifier("run", at: now, randomBytes: 3)
        let started = Timestamps.precise(now)
        try ledger.startRun(id: runID, trigger: trigger, partners: partners.map(\.id), at: started,
                            allowDeletions: settings.allowDeletions)
        // The file says a run is in progress: if this process dies, it keeps saying so (an alert can see it).
        writeMetrics(ledger)
        let context = RunContext(runID: runID, trigger: trigger, sourcePath: settings.sourcePath,
                                 payloads: location.payloads, policy: settings.policy, time: settings.time,
                                 random: settings.random, events: settings.events, allowDeletions: settings.allowDeletions)
        let reports = forEachPartner(partners, ledger: ledger) { partner, connection in
            let outcome = self.runPartner(partner, mode: mode, context: context, ledger: connection)
            return try self.record(outcome, run: runID, ledger: connection)
        }
        let succeeded = reports.allSatisfy(\.succeeded)
        let finished = Timestamps.precise(settings.time.now())
        try ledger.finishRun(id: runID, status: succeeded ? .succeeded : .failed, at: finished)
        let configured = Set(settings.configuration.partners.map(\.id))
        let elsewhere = Set(try ledger.owedByPartner().keys).union(try ledger.partnersWithIncompleteFeeds())
            .filter { configured.contains($0) && !partners.map(\.id).contains($0) }
        var report = RunReport(run: runID, trigger: trigger.rawValue, status: succeeded ? RunStatus.succeeded.rawValue : RunStatus.failed.rawValue,
                               startedAt: started, finishedAt: finished, durationSeconds: Timestamps.seconds(from: started, to: finished),
                               partners: reports, incompleteElsewhere: elsewhere.sorted())
        // A rerun completes what is owed; deletion notices due to the others are owed too, and said.
        if mode == .complete { report.noticesDueElsewhere = noticesDue(besides: Set(partners.map(\.id)).union(elsewhere), ledger: ledger) }
        try signCheckpoint(ledger)
        writeMetrics(ledger)
        return report
    }

    /// For each configured partner but `besides`: the deletion notices due to it now (counted from the
    /// source, and kept for the metrics); those with any.
    /// A partner that cannot be counted (its columns, the source) is a warning: the rerun's work stands.
    func noticesDue(besides: Set<String>, ledger: any LedgerStore) -> [String: Int] {
        var due: [String: Int] = [:]
        for partner in settings.configuration.partners where !besides.contains(partner.id) {
            do {
                guard let count = try NoticesDue.count(partner, sourcePath: settings.sourcePath, ledger: ledger,
                                                       environment: settings.environment) else { continue }
                try ledger.set(count, of: CounterName.noticesDue, partner: partner.id)
                if count > 0 { due[partner.id] = count }
            } catch {
                warn(ExportError.wrapping(error).located("counting the deletion notices due to \(partner.id)"))
            }
        }
        return due
    }

    /// The ledger's lock, or `lock.held` (exit 75) — skipped, not silent: counted in the ledger and the
    /// metrics (a collector sees overlapping schedules).
    func takeLock(now: Date, shared: Bool) throws -> AnyObject {
        do {
            return try location.lock(now: Timestamps.rfc3339(now), shared: shared)
        } catch let held as ExportError where held.code == "lock.held" {
            if let ledger = try? location.open(.write(create: false)) {
                try? ledger.add(1, to: CounterName.lockSkips, partner: "")
                writeMetrics(ledger)
            }
            throw held
        }
    }

    /// A wrong `--db` is configuration (exit 2), never a failed delivery; the ledger is never the source.
    func checkSource() throws {
        try CustomerDatabase.checkPresent(settings.sourcePath)
        if !location.isPostgres && Self.sameFile(settings.sourcePath, settings.statePath) {
            throw ExportError.usage("--state \(settings.statePath) is the customer database (--db): the ledger must be a file of "
                                    + "its own")
        }
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat()
        var y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// The partners a request names, how they run, and what to say when there are none.
    private func select(_ request: Request, ledger: any LedgerStore, now: Date)
        throws -> (partners: [Partner], mode: RunMode, trigger: RunTrigger, empty: String?) {
        let configuration = settings.configuration
        switch request {
        case .partners(let partners, let trigger):
            var seen: Set<String> = []
            return (partners.filter { seen.insert($0.id).inserted }, .run, trigger, nil)
        case .due:
            let due = try Self.duePartners(configuration.partners, ledger: ledger, now: now)
            return (due, .run, .scheduled, "No partner is due at \(Timestamps.rfc3339(now)).")
        case .rerunFailed(let only):
            // Owed deliveries, or a newest feed whose render stopped part way (nothing owed, still incomplete).
            let incomplete = try ledger.partnersWithIncompleteFeeds().filter { configuration.partner($0) != nil }
            let owed = Set(try ledger.owedByPartner().keys).union(incomplete).filter { only == nil || $0 == only }.sorted()
            return (try owed.map(configured), .complete, .rerun, "No failed, rejected or held deliveries to rerun"
                        + (only.map { " for \($0)" } ?? "") + ".")
        case .rerunDeliveries(let ids):
            var partners: [String] = []
            for id in ids {
                guard let delivery = try ledger.delivery(id) else {
                    throw ExportError.usage("there is no delivery \(id) in \(location.label) ('partner-export deliveries --failed' "
                                            + "lists the owed ones)")
                }
                switch delivery.status {
                case .delivered:
                    throw ExportError.usage("delivery \(id) was delivered at \(delivery.deliveredAt ?? "?"); nothing to rerun")
                case .superseded:
                    throw ExportError.usage("delivery \(id) was superseded" + (delivery.supersededBy.map { " by \($0)" } ?? "")
                                            + "; rerun that one if it failed (partner-export deliveries --failed)")
                case .pending, .failed, .rejected, .held:
                    if !partners.contains(delivery.partner) { partners.append(delivery.partner) }
                }
            }
            return (try partners.map(configured), .complete, .rerun, nil)
        case .join:
            throw ExportError.internalFailure("run --join is a shared run's (a PostgreSQL ledger)")
        }
    }

    private func configured(_ id: String) throws -> Partner {
        guard let partner = settings.configuration.partner(id) else {
            throw ExportError.configuration("partner \(id) is owed deliveries but is no longer configured, so they cannot be "
                                            + "sent again under a contract; nothing was sent")
        }
        return partner
    }

    /// The partners whose schedule fired after their last completed run (manual or scheduled).
    public static func duePartners(_ partners: [Partner], ledger: (any LedgerStore)?, now: Date) throws -> [Partner] {
        try partners.filter { partner in
            guard let text = partner.contract.schedule, let schedule = try? CronSchedule(parsing: text) else { return false }
            let last = try ledger?.lastCompletedRun(partner: partner.id).flatMap(Timestamps.parse)
            return schedule.isDue(lastCompleted: last.map { Int64($0.timeIntervalSince1970) }, now: Int64(now.timeIntervalSince1970))
        }
    }

    /// One partner's part (or one shard of it): prepared (what only it needs), then run; whatever fails stays its own.
    func runPartner(_ partner: Partner, mode: RunMode, context: RunContext, ledger: any LedgerStore,
                    work: ShardWork? = nil) -> PartnerOutcome {
        do {
            let prepared = try PreparedPartner.prepare(partner, in: settings.configuration, environment: settings.environment,
                                                       transport: settings.transport)
            return PartnerRun(partner: prepared, mode: mode, context: context, ledger: ledger, work: work).run()
        } catch {
            var outcome = PartnerOutcome(partner: partner, startedAt: Timestamps.precise(context.time.now()))
            outcome.status = .error
            outcome.error = ExportError.wrapping(error).located("partner \(partner.id)")
            // A partner that cannot start (a secret not set, a certificate missing) is logged, not only reported.
            context.events.problem(context.runID, partner.id, "", outcome.error ?? ExportError.wrapping(error))
            outcome.feed = try? ledger.latestFeed(partner: partner.id)
            outcome.feedComplete = outcome.feed?.isComplete ?? false
            outcome.owedAfter = (try? ledger.owed(partner: partner.id).count) ?? 0
            return outcome
        }
    }

    /// Records how a partner's part ended (with its report and its error's code), at once.
    private func record(_ outcome: PartnerOutcome, run: String, ledger: any LedgerStore) throws -> PartnerReport {
        let report = try count(outcome, ledger: ledger)
        try Self.record(report, run: run, ledger: ledger)
        return report
    }

    /// The partner's report; a delivery's failure is counted with the delivery, a partner that could
    /// not run at all is counted here.
    func count(_ outcome: PartnerOutcome, ledger: any LedgerStore) throws -> PartnerReport {
        if let error = outcome.error, outcome.status == .error {
            try ledger.add(1, to: CounterName.errors(error.code), partner: outcome.partner.id)
        }
        return outcome.report(finishedAt: Timestamps.precise(settings.time.now()))
    }

    static func record(_ report: PartnerReport, run: String, ledger: any LedgerStore) throws {
        // What the partner is still due of the notices this part counted (held by the guard, a batch failed).
        if let changes = report.changes {
            try ledger.set(max(0, changes.noticesDueCount - changes.noticesSent), of: CounterName.noticesDue, partner: report.partner)
        }
        try ledger.recordPartner(run: run, PartnerRunRecord(
            partner: report.partner, status: PartnerStatus(rawValue: report.status) ?? .error, eligible: report.eligible ?? 0,
            records: report.records, rejected: report.rejectedRecords, deliveries: report.deliveries, bytes: report.bytes,
            startedAt: report.startedAt, finishedAt: report.finishedAt, error: report.error?.message, errorCode: report.error?.code,
            feed: report.feed?.id, feedComplete: report.feed?.complete ?? false, report: try JSONCoding.compact(report)))
    }

    /// Runs `work` for each partner on a thread of its own, at most `parallel` at a time, each with its
    /// own ledger connection; reports come back in the partners' order.
    private func forEachPartner(_ partners: [Partner], ledger: any LedgerStore,
                                _ work: @escaping @Sendable (Partner, any LedgerStore) throws -> PartnerReport) -> [PartnerReport] {
        let results = Slots<PartnerReport>(count: partners.count)
        let slots = DispatchSemaphore(value: max(1, settings.parallel))
        let group = DispatchGroup()
        let base = UncheckedBox(ledger)
        let started = Timestamps.precise(settings.time.now())
        for (index, partner) in partners.enumerated() {
            slots.wait()
            group.enter()
            let thread = Thread {
                defer {
                    slots.signal()
                    group.leave()
                }
                do {
                    results.set(index, try work(partner, try base.value.connect()))
                } catch {
                    let failure = ExportError.wrapping(error).located("partner \(partner.id)")
                    results.set(index, PartnerReport(partner: partner.id, status: PartnerStatus.error.rawValue,
                                                     error: ErrorReport(failure), startedAt: started))
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return results.all
    }

    var auditFiles: Audit.Files { Audit.Files(stateFolder: stateFolder, environment: settings.environment) }

    /// After every run, the log's checkpoint (docs/audit.md); a failure to sign is a warning, the run
    /// stands — but a log that no longer extends what the key signed stops the command (exit 2).
    func signCheckpoint(_ ledger: any LedgerStore) throws {
        do {
            let signed = try Audit(files: auditFiles).checkpoint(ledger, at: Date())
            checkpoint = signed?.path
            if let warning = signed?.warning { warn(warning) }
            if checkpoint == nil { missingSigningKey = auditFiles.keyPath }
        } catch let error as ExportError where error.code == "audit.rollback" {
            throw error
        } catch {
            warnings.append(ExportError.wrapping(error).located("signing the disclosure log's checkpoint"))
        }
    }

    func writeMetrics(_ ledger: any LedgerStore) {
        guard let target = settings.metrics else { return }
        if let failure = MetricsFile.write(ledger: ledger, partners: settings.configuration.partners.map(\.id), to: target) {
            warnings.append(failure)
        }
    }
}

/// What every partner of one run shares.
struct RunContext: @unchecked Sendable {
    let runID: String
    let trigger: RunTrigger
    let sourcePath: String
    let payloads: any PayloadStore
    let policy: RetryPolicy
    let time: TimeSource
    let random: any RandomSource
    let events: RunEvents
    let allowDeletions: Bool
}

/// Results filled in by worker threads, in order.
final class Slots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [T?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: T) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }

    var all: [T] {
        lock.lock()
        defer { lock.unlock() }
        return values.compactMap { $0 }
    }
}
