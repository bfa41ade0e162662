import CustomerSource
import ExportConfig
import ExportCore
import Foundation
import Ledger
import Synchronization

/// The batch job as one call — `run PARTNER…`, `run --all`, `run --due`, `run --join` and `rerun` all
/// come here, on either ledger, and take one path (docs/design.md, "The run on one page"):
///
/// 1. **guard**: the source and the state folder are what they must be; the ledger's lock (held
///    together by the workers of runs on a PostgreSQL ledger, alone by a rerun); the disclosure log
///    extends what the signing key signed;
/// 2. **which run**: a new run of the partners asked for (or due, or owed), its work items recorded
///    with it — partner × id-range shard (`delivery.shards`; a whole feed is shard 1 of 1) — or, with
///    `--join` / the same due slot, the run another process started;
/// 3. **work**: the ``Executor``'s threads take items from the ledger's ``WorkQueue`` until none is
///    left, each running its partner's shard (``PartnerRun``);
/// 4. **settle**: once every item ended, each partner's result is its shards' summed, its feed settled
///    and recorded, and the run finished — by whichever process gets there first;
/// 5. **sign** a checkpoint of the disclosure log, and write the metrics file.
///
/// ```swift
/// let report = try Runner(settings).run(.partners(["acme-offers"], trigger: .manual))
/// ```
public final class Runner: Sendable {
    public struct Settings: Sendable {
        public var configuration: Configuration
        public var sourcePath: String
        /// The ledger: a SQLite file, or a `postgresql://` URL (``LedgerLocation``).
        public var statePath: String
        /// The local folder of a PostgreSQL ledger (metrics, checkpoints); a SQLite ledger's is its folder.
        public var stateFolder: String?
        /// Secrets are read from here (the process environment in production).
        public var environment: [String: String]
        /// Items (partners, or shards of them) this process works on at the same time.
        public var parallel: Int = 2
        public var policy = RetryPolicy()
        public var time = TimeSource.system
        public var random: any RandomSource = SystemRandomSource()
        public var events = RunEvents.none
        public var transport: TransportFactory = Transports.https
        public var metrics: MetricsFile.Target?
        /// Send deletion notices even beyond a partner's `max_deletions_percent` (`--allow-deletions`).
        public var allowDeletions = false
        /// A PostgreSQL ledger's items are held under a lease this long (renewed by a heartbeat); an item
        /// whose holder did not renew it is taken over after it ran out (`--lease-seconds`).
        public var leaseSeconds = 60
        /// How this process is named as a worker (default: `HOST pid N`).
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
        /// Help with the run in progress (a PostgreSQL ledger): take its items until it is done.
        case join

        /// A rerun has the ledger to itself; runs may be shared by several processes.
        var sharesTheLedger: Bool {
            switch self {
            case .partners, .due, .join: true
            case .rerunFailed, .rerunDeliveries: false
            }
        }
    }

    let settings: Settings
    /// What the run leaves beside its result, written from any of its threads.
    private let aside = Mutex(Aside())

    private struct Aside {
        var warnings: [ExportError] = []
        var checkpoint: String?
        var missingSigningKey: String?
    }

    public init(_ settings: Settings) { self.settings = settings }

    /// What went wrong beside the run itself (the metrics file could not be written).
    public var warnings: [ExportError] { aside.withLock { $0.warnings } }
    /// The checkpoint of the disclosure log signed after the run (nil without a signing key).
    public var checkpoint: String? { aside.withLock { $0.checkpoint } }
    /// Where the signing key was looked for, when there was none (so nothing was signed).
    public var missingSigningKey: String? { aside.withLock { $0.missingSigningKey } }

    /// Adds a warning (from any thread).
    func warn(_ warning: ExportError) {
        aside.withLock { $0.warnings.append(warning) }
    }

    var location: LedgerLocation { LedgerLocation(settings.statePath, stateFolder: settings.stateFolder) }
    var stateFolder: String { location.stateFolder }

    public func run(_ request: Request) throws -> RunResult {
        if case .join = request, !location.isPostgres {
            throw ExportError.usage("run --join helps with a run shared by several workers, which needs a PostgreSQL ledger "
                                    + "(--state postgresql://…); --state \(settings.statePath) names a SQLite ledger")
        }
        // 1. Guard: the source's file and keys before anything is written; the columns once the partners are known.
        try checkSource()
        try SourceCheck.check(settings.sourcePath, model: settings.configuration.source, partners: [])
        try StateFolder.check(stateFolder, create: true)
        let now = settings.time.now()
        let lock = try takeLock(now: now, shared: request.sharesTheLedger)
        // In a run several workers may share, a worker stalled inside a write transaction would hold every
        // worker's writers' turn: the server ends such a transaction once its lease would have run out.
        // A rerun has the ledger to itself, and no transaction of its is ended.
        var opened = location
        if request.sharesTheLedger { opened.idleInTransactionSeconds = settings.leaseSeconds }
        let ledger = try opened.open(.write(create: true))
        // A PostgreSQL lock lives in a session the server can end: checked before every write that moves a feed on.
        ledger.writeGuard = { try lock.check() }
        // Nothing goes out over a ledger whose log no longer extends what the signing key signed.
        let audit = Audit(files: auditFiles)
        try audit.checkHistory(ledger)
        // Every request carries a checkpoint of the log as the run starts (signed now, or the kept one of
        // the same tree): a partner that keeps them witnesses everything disclosed before this run.
        let witnessed = witnessCheckpoint(audit, ledger: ledger, at: now)
        // With the ledger to itself, a run still marked running was left by a process that died.
        if lock.exclusive { _ = try ledger.markInterruptedRuns(at: Timestamps.precise(now)) }
        let queue = location.workQueue(leaseSeconds: settings.leaseSeconds, lock: lock)
        // A run whose last item's worker stopped before settling it: settled here, whoever comes next.
        for run in try queue.unsettled(on: ledger) { try settle(run, queue: queue, ledger: ledger) }

        // 2. Which run.
        let chosen: Chosen
        do {
            chosen = try choose(request, queue: queue, ledger: ledger, now: now)
        } catch let held as ExportError where held.code == "lock.held" {
            // Every partner asked for is in a run still in progress: skipped, and counted like a lock held.
            try? ledger.add(1, to: CounterName.lockSkips, partner: "")
            writeMetrics(ledger)
            throw held
        }
        guard let runID = chosen.run else {
            var report = RunResult(run: nil, trigger: chosen.trigger, status: nil, startedAt: Timestamps.precise(now), finishedAt: nil,
                                   partners: [], message: chosen.message)
            if chosen.mode == .complete { report.noticesDueElsewhere = noticesDue(besides: [], ledger: ledger) }
            writeMetrics(ledger)
            return report
        }
        // The file says a run is in progress: if this process dies, it keeps saying so (an alert can see it).
        writeMetrics(ledger)
        // --allow-deletions is the run's, recorded when it started: a worker that joins it with another choice is refused.
        let allowDeletions = try ledger.run(runID)?.allowDeletions ?? settings.allowDeletions
        if allowDeletions != settings.allowDeletions {
            throw ExportError.usage("run \(runID) was started " + (allowDeletions ? "with" : "without") + " --allow-deletions, and every "
                                    + "worker of a run applies the run's choice: join it " + (allowDeletions ? "with" : "without")
                                    + " the flag" + (allowDeletions ? "" : ", or start a run with it once this one is done"))
        }

        // 3. Work.
        let context = RunContext(runID: runID, trigger: chosen.trigger, sourcePath: settings.sourcePath,
                                 sourceModel: settings.configuration.source, payloads: location.payloads,
                                 policy: settings.policy, time: settings.time, random: settings.random, events: settings.events,
                                 allowDeletions: allowDeletions, checkpoint: witnessed)
        let executor = Executor(runner: self, queue: queue, lock: lock, mode: chosen.mode, context: context)
        try executor.work(connector: ledger.connector)
        let configured = Set(settings.configuration.partners.map(\.id))
        let foreign = Set(try queue.items(run: runID, on: ledger).filter { !configured.contains($0.partner)
            && ($0.status == .pending || $0.status == .running) }.map(\.partner)).sorted()
        if !foreign.isEmpty {
            warn(ExportError.configuration("run \(runID) has shards of \(foreign.joined(separator: ", ")), which worker \(executor.process) "
                                           + "is not configured for: left to the workers that are (every worker of a shared run needs "
                                           + "the same configuration); the run ends when they are done"))
        }

        // 4. Settle.
        try settle(runID, queue: queue, ledger: ledger)
        var report = try RunReports.load(runID, from: ledger)
        let ran = Set(report.partners.map(\.partner))
        // Owed from earlier runs: not a partner another run is working on now.
        let busy = Set(try queue.partnersInProgress(notIn: runID, on: ledger))
        report.incompleteElsewhere = try ledger.partnersToComplete()
            .filter { configured.contains($0) && !ran.contains($0) && !busy.contains($0) }.sorted()
        // A rerun completes what is owed; deletion notices due to the others are owed too, and said.
        if chosen.mode == .complete {
            report.noticesDueElsewhere = noticesDue(besides: ran.union(report.incompleteElsewhere), ledger: ledger)
        }

        // 5. Sign and say.
        try signCheckpoint(ledger)
        writeMetrics(ledger)
        return report
    }

    /// The run a request works on, how its partners run, and what to say when there is none.
    private struct Chosen {
        var run: String?
        var trigger: RunTrigger
        var mode: RunMode
        var message: String?
    }

    /// Starts the run the request names (its items recorded with it), finds the one another process
    /// started for the same due slot, or the one in progress to join; nil run when there is nothing to do.
    private func choose(_ request: Request, queue: any WorkQueue, ledger: any LedgerStore, now: Date) throws -> Chosen {
        let configuration = settings.configuration
        let proposed = Timestamps.identifier("run", at: now, randomBytes: 3)
        let started = Timestamps.precise(now)
        func start(_ partners: [Partner], trigger: RunTrigger, mode: RunMode, slot: String?, others: String) throws -> String {
            try SourceCheck.check(settings.sourcePath, model: settings.configuration.source, partners: partners)
            let made = try queue.start(NewRun(id: proposed, trigger: trigger, partners: partners.map(\.id), startedAt: started,
                                              slot: slot, allowDeletions: settings.allowDeletions),
                                       items: try workItems(partners, run: proposed, mode: mode), on: ledger)
            if let busy = made.busy { warn(ExportError.lockHeld(busy + "; " + others)) }
            return made.run
        }
        switch request {
        case .partners(let partners, let trigger):
            var seen: Set<String> = []
            let unique = partners.filter { seen.insert($0.id).inserted }
            guard !unique.isEmpty else { return Chosen(run: nil, trigger: trigger, mode: .run, message: "No partner to run.") }
            return Chosen(run: try start(unique, trigger: trigger, mode: .run, slot: nil, others: "the other partners run now"),
                          trigger: trigger, mode: .run)
        case .due:
            let due = try Self.duePartners(configuration.partners, ledger: ledger, now: now)
            guard !due.isEmpty else {
                return Chosen(run: nil, trigger: .scheduled, mode: .run, message: "No partner is due at \(Timestamps.rfc3339(now)).")
            }
            // The slot: the latest time the due schedules fired. Processes started in the same minute
            // find the same slot, and the first to write it starts the run the others join.
            let seconds = Int64(now.timeIntervalSince1970)
            let fired = due.compactMap { $0.contract.schedule.flatMap { try? CronSchedule(parsing: $0) }?.latestFire(atOrBefore: seconds) }
            let slot = queue.isShared ? "due " + Timestamps.rfc3339(Date(timeIntervalSince1970: TimeInterval(fired.max() ?? seconds))) : nil
            return Chosen(run: try start(due, trigger: .scheduled, mode: .run, slot: slot, others: "the other due partners run now"),
                          trigger: .scheduled, mode: .run)
        case .rerunFailed(let only):
            // Owed deliveries, or a newest feed whose render stopped part way (nothing owed, still incomplete);
            // a partner no longer configured is named by the error of its owed deliveries, not skipped.
            let owedDeliveries = Set(try ledger.owedByPartner().keys)
            let owed = try ledger.partnersToComplete().filter { owedDeliveries.contains($0) || configuration.partner($0) != nil }
                .filter { only == nil || $0 == only }.sorted()
            guard !owed.isEmpty else {
                return Chosen(run: nil, trigger: .rerun, mode: .complete,
                              message: "No failed, rejected or held deliveries to rerun" + (only.map { " for \($0)" } ?? "") + ".")
            }
            return Chosen(run: try start(try owed.map(configured), trigger: .rerun, mode: .complete, slot: nil, others: ""),
                          trigger: .rerun, mode: .complete)
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
            return Chosen(run: try start(try partners.map(configured), trigger: .rerun, mode: .complete, slot: nil, others: ""),
                          trigger: .rerun, mode: .complete)
        case .join:
            guard let run = try queue.runInProgress(on: ledger), let record = try ledger.run(run) else {
                return Chosen(run: nil, trigger: .manual, mode: .run, message: "No shared run is in progress in \(location.label) to join.")
            }
            return Chosen(run: run, trigger: record.trigger, mode: record.trigger == .rerun ? .complete : .run)
        }
    }

    private func configured(_ id: String) throws -> Partner {
        guard let partner = settings.configuration.partner(id) else {
            throw ExportError.configuration("partner \(id) is owed deliveries but is no longer configured, so they cannot be "
                                            + "sent again under a contract; nothing was sent")
        }
        return partner
    }

    /// Each partner's items: its `delivery.shards` id ranges (cut from the source's id span) for a new
    /// feed; one for a rerun, which completes the partner's feed whatever it was split into.
    private func workItems(_ partners: [Partner], run: String, mode: RunMode) throws -> [RunItem] {
        var span: (lowest: Int64, highest: Int64)??
        return try partners.flatMap { partner -> [RunItem] in
            let shards = mode == .run ? partner.contract.delivery.shards : 1
            var ranges = [IDRange.all]
            if shards > 1 {
                if span == nil { span = .some(try CustomerDatabase(path: settings.sourcePath, model: settings.configuration.source).idSpan()) }
                if let bounds = span ?? nil { ranges = Shard.split(lowest: bounds.lowest, highest: bounds.highest, into: shards) }
            }
            return ranges.enumerated().map { index, range in
                RunItem(runID: run, partner: partner.id, shard: index + 1, shards: ranges.count, range: range)
            }
        }
    }

    /// One partner's item (its whole feed, or a shard of it): prepared (what only it needs), then run;
    /// whatever fails stays its own.
    func runPartner(_ partner: Partner, mode: RunMode, context: RunContext, ledger: any LedgerStore, work: ShardWork) -> PartnerOutcome {
        // A paused partner, or one that asked us to wait: nothing is prepared or sent, what it is owed stays owed.
        if let standing = try? PartnerRun.standing(of: partner.id, ledger: ledger, at: context.time.now(), includingWait: true) {
            return notRun(partner, status: standing.code == "partner.paused" ? .paused : .waiting, error: standing, context: context,
                          ledger: ledger)
        }
        do {
            let prepared = try PreparedPartner.prepare(partner, in: settings.configuration, environment: settings.environment,
                                                       transport: settings.transport)
            return PartnerRun(partner: prepared, mode: mode, context: context, ledger: ledger, work: work).run()
        } catch {
            let failure = ExportError.wrapping(error).located("partner \(partner.id)")
            // A partner that cannot start (a secret not set, a certificate missing) is logged, not only reported.
            context.events.problem(context.runID, partner.id, "", failure)
            return notRun(partner, status: .error, error: failure, context: context, ledger: ledger)
        }
    }

    /// A partner's part that did not start: why, and where its feed stands.
    private func notRun(_ partner: Partner, status: PartnerStatus, error: ExportError, context: RunContext,
                        ledger: any LedgerStore) -> PartnerOutcome {
        var outcome = PartnerOutcome(partner: partner, startedAt: Timestamps.precise(context.time.now()))
        outcome.status = status
        outcome.error = error.located("partner \(partner.id)")
        outcome.feed = try? ledger.latestFeed(partner: partner.id)
        outcome.feedComplete = outcome.feed?.isComplete ?? false
        outcome.owedAfter = (try? ledger.owed(partner: partner.id).count) ?? 0
        return outcome
    }

    /// The partner's result; a delivery's failure is counted with the delivery, a partner that could
    /// not run at all is counted here.
    func count(_ outcome: PartnerOutcome, ledger: any LedgerStore) throws -> PartnerResult {
        if let error = outcome.error, outcome.status == .error {
            try ledger.add(1, to: CounterName.errors(error.code), partner: outcome.partner.id)
        }
        return outcome.result(finishedAt: Timestamps.precise(settings.time.now()))
    }

    /// Records how a partner's part of `run` ended (its result, its error's code, what it is still due).
    static func record(_ result: PartnerResult, run: String, ledger: any LedgerStore) throws {
        // What the partner is still due of the notices this part counted (held by the guard, a batch failed).
        if let changes = result.changes {
            try ledger.set(max(0, changes.noticesDueCount - changes.noticesSent), of: CounterName.noticesDue, partner: result.partner)
        }
        try ledger.recordPartner(run: run, PartnerRunRecord(
            partner: result.partner, status: result.status, eligible: result.eligible ?? 0, records: result.records,
            rejected: result.rejectedRecords, deliveries: result.deliveries, bytes: result.bytes, startedAt: result.startedAt,
            finishedAt: result.finishedAt, error: result.error?.message, errorCode: result.error?.code, feed: result.feed?.id,
            feedComplete: result.feed?.complete ?? false, report: try JSONCoding.compact(result)))
    }

    /// The ledger's lock, or `lock.held` (exit 75) — skipped, not silent: counted in the ledger and the
    /// metrics (a collector sees overlapping schedules).
    func takeLock(now: Date, shared: Bool) throws -> any RunLock {
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

    /// The partners whose schedule fired after their last completed run (manual or scheduled).
    public static func duePartners(_ partners: [Partner], ledger: (any LedgerStore)?, now: Date) throws -> [Partner] {
        try partners.filter { partner in
            guard let text = partner.contract.schedule, let schedule = try? CronSchedule(parsing: text) else { return false }
            let last = try ledger?.lastCompletedRun(partner: partner.id).flatMap(Timestamps.parse)
            return schedule.isDue(lastCompleted: last.map { Int64($0.timeIntervalSince1970) }, now: Int64(now.timeIntervalSince1970))
        }
    }

    /// For each configured partner but `besides`: the deletion notices due to it now (counted from the
    /// source, and kept for the metrics); those with any. A partner that cannot be counted (its
    /// columns, the source) is a warning: the rerun's work stands.
    func noticesDue(besides: Set<String>, ledger: any LedgerStore) -> [String: Int] {
        var due: [String: Int] = [:]
        for partner in settings.configuration.partners where !besides.contains(partner.id) {
            do {
                guard let count = try NoticesDue.count(partner, sourcePath: settings.sourcePath, model: settings.configuration.source, ledger: ledger,
                                                       environment: settings.environment) else { continue }
                try ledger.set(count, of: CounterName.noticesDue, partner: partner.id)
                if count > 0 { due[partner.id] = count }
            } catch {
                warn(ExportError.wrapping(error).located("counting the deletion notices due to \(partner.id)"))
            }
        }
        return due
    }

    var auditFiles: Audit.Files { Audit.Files(stateFolder: stateFolder, environment: settings.environment) }

    /// After every run, the log's checkpoint (docs/audit.md); a failure to sign is a warning, the run
    /// stands — but a log that no longer extends what the key signed stops the command (exit 2).
    func signCheckpoint(_ ledger: any LedgerStore) throws {
        do {
            let signed = try Audit(files: auditFiles).checkpoint(ledger, at: Date())
            let keyPath = auditFiles.keyPath
            aside.withLock { aside in
                aside.checkpoint = signed?.path
                if let warning = signed?.warning { aside.warnings.append(warning) }
                if signed == nil { aside.missingSigningKey = keyPath }
            }
        } catch let error as ExportError where error.code == "audit.rollback" {
            throw error
        } catch {
            warn(ExportError.wrapping(error).located("signing the disclosure log's checkpoint"))
        }
    }

    /// The checkpoint the run's requests carry (base64 of the note); nil without a signing key. A
    /// failure to sign is a warning: the run goes on, its requests without one.
    private func witnessCheckpoint(_ audit: Audit, ledger: any LedgerStore, at now: Date) -> String? {
        do {
            // A new ledger's empty log has nothing to witness.
            guard try ledger.logState().tree.size > 0, let signed = try audit.checkpoint(ledger, at: now) else { return nil }
            if let warning = signed.warning { warn(warning) }
            return Data(signed.note.utf8).base64EncodedString()
        } catch {
            warn(ExportError.wrapping(error).located("signing the checkpoint the run's requests carry"))
            return nil
        }
    }

    func writeMetrics(_ ledger: any LedgerStore) {
        guard let target = settings.metrics else { return }
        if let failure = MetricsFile.write(ledger: ledger, partners: settings.configuration.partners.map(\.id), to: target) {
            warn(failure)
        }
    }
}

/// What every partner of one run shares.
struct RunContext: Sendable {
    let runID: String
    let trigger: RunTrigger
    let sourcePath: String
    let sourceModel: SourceModel
    let payloads: any PayloadStore
    let policy: RetryPolicy
    let time: TimeSource
    let random: any RandomSource
    let events: RunEvents
    let allowDeletions: Bool
    /// The newest signed checkpoint of the disclosure log when the run started, base64 (nil: none).
    var checkpoint: String? = nil
}
