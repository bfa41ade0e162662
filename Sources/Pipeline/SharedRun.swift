import CustomerSource
import ExportConfig
import ExportCore
import Foundation
import Ledger
import Reports

/// A run shared by several processes, on one machine or several (a PostgreSQL ledger; docs/postgresql.md,
/// "Several workers"):
///
/// 1. **which run**: `run PARTNER…` / `--all` starts one; `run --due` starts the one for its schedule
///    slot, or joins it when another process already did; `run --join` helps the newest one in progress.
///    A run and its items (partner × id-range shard, `delivery.shards`) are written in one transaction;
/// 2. **work**: each of `parallel` threads claims an item (`FOR UPDATE SKIP LOCKED`), holds it under a
///    lease a heartbeat renews, and runs that partner's shard as any run does (``PartnerRun``); every
///    write that moves the feed on first checks the lease is still this worker's. When nothing is left
///    to claim but another process still holds an item, the thread waits: if that holder dies, its
///    lease runs out and the item is taken over here;
/// 3. **settle**: once every item is done, each partner's report is the sum of its shards' and the
///    run is finished — by whichever process gets there first; every process prints the same report.
extension Runner {
    func runShared(_ request: Request) throws -> RunReport {
        try checkSource()
        try SourceCheck.check(settings.sourcePath, partners: [])
        try StateFolder.check(stateFolder, create: true)
        let now = settings.time.now()
        let lock = try takeLock(now: now, shared: true)
        defer { withExtendedLifetime(lock) {} }
        // A worker that stalls inside a write transaction would hold every worker's writers' turn: the
        // server ends such a transaction once this worker's lease would have run out.
        PostgresLedger.idleInTransactionSeconds = settings.leaseSeconds
        let ledger = try location.open(.write(create: true))
        var lockGuard: (@Sendable () throws -> Void)?
        if let held = lock as? PostgresRunLock { lockGuard = { try held.check() } }
        ledger.writeGuard = lockGuard
        // Nothing goes out over a ledger whose log no longer extends what the signing key signed.
        try Audit(files: auditFiles).checkHistory(ledger)
        let items = try RunItems(ledger)
        // A run whose last item's worker stopped before settling it: settled here, whoever comes next.
        for run in try items.unsettled() { try settleShared(run, ledger: ledger, items: items) }

        let found: (String, RunTrigger)?
        do {
            found = try sharedRun(request, ledger: ledger, items: items, now: now, session: (lock as? PostgresRunLock)?.session)
        } catch let held as ExportError where held.code == "lock.held" {
            // A partner already in a run in progress: skipped, and counted like a lock held.
            try? ledger.add(1, to: CounterName.lockSkips, partner: "")
            writeMetrics(ledger)
            throw held
        }
        guard let (runID, trigger) = found else {
            writeMetrics(ledger)
            let message: String
            switch request {
            case .due: message = "No partner is due at \(Timestamps.rfc3339(now))."
            default: message = "No shared run is in progress in \(location.label) to join."
            }
            return RunReport(run: nil, trigger: RunTrigger.manual.rawValue, status: "nothing-to-do", startedAt: Timestamps.precise(now),
                             finishedAt: nil, durationSeconds: nil, partners: [], message: message)
        }
        writeMetrics(ledger)
        // --allow-deletions is the run's, recorded when it started: a worker that joins it with another is refused.
        let allowDeletions = try ledger.run(runID)?.allowDeletions ?? settings.allowDeletions
        if allowDeletions != settings.allowDeletions {
            throw ExportError.usage("run \(runID) was started " + (allowDeletions ? "with" : "without") + " --allow-deletions, and every "
                                    + "worker of a run applies the run's choice: join it " + (allowDeletions ? "with" : "without")
                                    + " the flag" + (allowDeletions ? "" : ", or start a run with it once this one is done"))
        }
        let context = RunContext(runID: runID, trigger: trigger, sourcePath: settings.sourcePath, payloads: location.payloads,
                                 policy: settings.policy, time: settings.time, random: settings.random, events: settings.events,
                                 allowDeletions: allowDeletions)
        try work(on: runID, context: context, ledger: ledger, lockGuard: lockGuard, session: (lock as? PostgresRunLock)?.session)
        let configured = Set(settings.configuration.partners.map(\.id))
        let foreign = Set(try items.items(run: runID).filter { !configured.contains($0.partner) && ($0.status == .pending
                                                                || $0.status == .running) }.map(\.partner)).sorted()
        if !foreign.isEmpty {
            warn(ExportError.configuration("run \(runID) has shards of \(foreign.joined(separator: ", ")), which worker \(workerName) is "
                                           + "not configured for: left to the workers that are (every worker of a shared run needs "
                                           + "the same configuration); the run ends when they are done"))
        }
        try settleShared(runID, ledger: ledger, items: items)

        var report = try RunReports.load(runID, from: ledger)
        let ran = Set(report.partners.map(\.partner))
        // Owed from earlier runs: not a partner another run is working on now.
        let busy = Set(try items.partnersInProgress(notIn: runID))
        report.incompleteElsewhere = Set(try ledger.owedByPartner().keys).union(try ledger.partnersWithIncompleteFeeds())
            .filter { configured.contains($0) && !ran.contains($0) && !busy.contains($0) }.sorted()
        try signCheckpoint(ledger)
        writeMetrics(ledger)
        return report
    }

    var workerName: String {
        if let worker = settings.worker { return worker }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        return "\(String(cString: host)) pid \(getpid())"
    }

    /// The run this process works on (started here, or found), or nil when there is nothing to do.
    private func sharedRun(_ request: Request, ledger: SQLLedger, items: RunItems, now: Date,
                           session: Int32?) throws -> (String, RunTrigger)? {
        let proposed = Timestamps.identifier("run", at: now, randomBytes: 3)
        let started = Timestamps.precise(now)
        switch request {
        case .partners(let partners, let trigger):
            var seen: Set<String> = []
            let unique = partners.filter { seen.insert($0.id).inserted }
            guard !unique.isEmpty else { return nil }
            try SourceCheck.check(settings.sourcePath, partners: unique)
            let made = try items.start(run: proposed, trigger: trigger, partners: unique.map(\.id), at: started,
                                       items: try workItems(unique, run: proposed), slot: nil, leaseSeconds: settings.leaseSeconds,
                                       session: session, allowDeletions: settings.allowDeletions)
            if let busy = made.busy { warn(ExportError.lockHeld(busy + "; the other partners run now")) }
            return (proposed, trigger)
        case .due:
            let due = try Self.duePartners(settings.configuration.partners, ledger: ledger, now: now)
            guard !due.isEmpty else { return nil }
            try SourceCheck.check(settings.sourcePath, partners: due)
            // The slot: the latest time the due schedules fired. Processes started in the same minute
            // find the same slot, and the first to write it starts the run the others join.
            let seconds = Int64(now.timeIntervalSince1970)
            let fired = due.compactMap { $0.contract.schedule.flatMap { try? CronSchedule(parsing: $0) }?.latestFire(atOrBefore: seconds) }
            let slot = "due " + Timestamps.rfc3339(Date(timeIntervalSince1970: TimeInterval(fired.max() ?? seconds)))
            let found = try items.start(run: proposed, trigger: .scheduled, partners: due.map(\.id), at: started,
                                        items: try workItems(due, run: proposed), slot: slot, leaseSeconds: settings.leaseSeconds,
                                        session: session, allowDeletions: settings.allowDeletions)
            if let busy = found.busy { warn(ExportError.lockHeld(busy + "; the other due partners run now")) }
            return (found.run, .scheduled)
        case .join:
            guard let run = try items.runInProgress(), let record = try ledger.run(run) else { return nil }
            return (run, record.trigger)
        case .rerunFailed, .rerunDeliveries:
            throw ExportError.internalFailure("a rerun is not a shared run")
        }
    }

    /// Each partner's items: one, or its `delivery.shards` id ranges (cut from the source's id span).
    private func workItems(_ partners: [Partner], run: String) throws -> [RunItem] {
        var span: (lowest: Int64, highest: Int64)??
        return try partners.flatMap { partner -> [RunItem] in
            let shards = partner.contract.delivery.shards
            var ranges = [IDRange.all]
            if shards > 1 {
                if span == nil { span = .some(try CustomerDatabase(path: settings.sourcePath).idSpan()) }
                if let bounds = span ?? nil { ranges = Shard.split(lowest: bounds.lowest, highest: bounds.highest, into: shards) }
            }
            return ranges.enumerated().map { index, range in
                RunItem(runID: run, partner: partner.id, shard: index + 1, shards: ranges.count, range: range)
            }
        }
    }

    /// Claims and does items until none is left that this process could take: `parallel` threads,
    /// each with its own ledger connections.
    private func work(on run: String, context: RunContext, ledger: SQLLedger, lockGuard: (@Sendable () throws -> Void)?,
                      session: Int32?) throws {
        let process = workerName
        let problems = Slots<ExportError>(count: max(1, settings.parallel))
        let group = DispatchGroup()
        let base = UncheckedBox(ledger)
        for thread in 1...max(1, settings.parallel) {
            group.enter()
            let worker = Thread {
                defer { group.leave() }
                do {
                    try self.claimLoop(run: run, worker: "\(process) #\(thread)", process: "\(process) #", context: context,
                                       base: base.value, lockGuard: lockGuard, session: session)
                } catch {
                    problems.set(thread - 1, ExportError.wrapping(error).located("worker \(process) #\(thread)"))
                }
            }
            worker.stackSize = 8 << 20
            worker.start()
        }
        group.wait()
        // A worker that could not go on (the ledger unreachable, the lock lost) leaves its item to the others.
        if let first = problems.all.first { throw first }
    }

    private func claimLoop(run: String, worker: String, process: String, context: RunContext, base: SQLLedger,
                           lockGuard: (@Sendable () throws -> Void)?, session: Int32?) throws {
        guard let connection = try base.connect() as? SQLLedger else { return }
        let items = try RunItems(connection)
        // Only the partners configured here: a shard of one this worker does not know is left to those that do.
        let known = settings.configuration.partners.map(\.id)
        // Short: a worker waiting for another process's last item ends (and reports) soon after it; one cheap query each time.
        let pause = 0.1
        while true {
            try lockGuard?()
            if let item = try items.claim(run: run, worker: worker, leaseSeconds: settings.leaseSeconds, session: session,
                                          partners: known) {
                try work(item, worker: worker, context: context, base: base, lockGuard: lockGuard)
                continue
            }
            // Nothing to claim now: done, unless another process holds an item that may yet be left to us.
            if try items.waiting(run: run, notHeldBy: process, partners: known) == 0 { return }
            Thread.sleep(forTimeInterval: pause)
        }
    }

    /// One item: its partner's shard, run under a lease; how it ended is recorded on the item.
    private func work(_ item: RunItem, worker: String, context: RunContext, base: SQLLedger,
                      lockGuard: (@Sendable () throws -> Void)?) throws {
        let lease = try ItemLease(item, worker: worker, seconds: settings.leaseSeconds, base: base)
        defer { lease.stop() }
        guard let connection = try base.connect() as? SQLLedger else { return }
        connection.writeGuard = {
            try lockGuard?()
            try lease.check()
        }
        // And inside each write's transaction, after the writers' turn: a takeover cannot come between.
        connection.fence = lease.fence
        let report: PartnerReport
        if let partner = settings.configuration.partner(item.partner) {
            let shard = Shard(index: item.shard, count: item.shards, range: item.range)
            let outcome = runPartner(partner, mode: .run, context: context, ledger: connection,
                                     work: ShardWork(shard: shard, rendered: item.rendered, lease: lease))
            // Lost on the way (stalled past the lease; its connection may have been ended too): the shard is
            // left to whoever claims it next, nothing more is recorded from here.
            if lease.wasLost || (try? lease.check()) == nil {
                try? lease.release()
                warn(lease.lostError())
                return
            }
            report = try count(outcome, ledger: connection)
        } else {
            let started = Timestamps.precise(settings.time.now())
            report = PartnerReport(partner: item.partner, status: PartnerStatus.error.rawValue, error: ErrorReport(ExportError.configuration(
                "partner \(item.partner) is not configured on worker \(worker): every worker of a shared run needs the same "
                    + "configuration; nothing was sent for its shard \(item.shard) of \(item.shards)")),
                startedAt: started, finishedAt: started)
        }
        // The shard's own outcome (the feed is complete only once every shard is).
        let succeeded = PartnerStatus(rawValue: report.status)?.succeeded ?? false
        if try !lease.finish(status: succeeded ? .done : .failed, report: try JSONCoding.compact(report)) {
            warn(lease.lostError())
        }
    }

    /// Once every item of `run` is done: each partner's report (its shards' summed, its feed settled)
    /// and the run's end. Every process may do it; what it writes is the same, and the run ends once.
    private func settleShared(_ run: String, ledger: SQLLedger, items: RunItems) throws {
        let all = try items.items(run: run)
        guard !all.isEmpty, all.allSatisfy({ $0.status == .done || $0.status == .failed }) else { return }
        let now = Timestamps.rfc3339(settings.time.now())
        var succeeded = true
        for partner in Array(Set(all.map(\.partner))).sorted() {
            let shards = all.filter { $0.partner == partner }
            let reports = shards.compactMap { $0.report.flatMap { try? JSONCoding.decode(PartnerReport.self, from: $0) } }
            guard var report = PartnerReport.merged(reports) else { continue }
            // What a worker that died delivered before it did: in the ledger, in no shard's report.
            let reported = Set(reports.flatMap(\.actions).map(\.delivery))
            let contract = settings.configuration.partner(partner)?.contract
            for delivery in try ledger.deliveries(DeliveryQuery(partner: partner, run: run))
                where delivery.status == .delivered && !reported.contains(delivery.id) {
                report.add(delivered: delivery, allowedForms: { contract?.allowedForms(for: $0)?.map(\.name) })
            }
            report.actions.sort { $0.batch < $1.batch }
            if let feed = report.feed?.id {
                report.feed?.complete = try ledger.settleFeed(feed, by: run, at: now)
            }
            report.feed?.owed = try ledger.owed(partner: partner).count
            if (report.feed?.owed ?? 0) > 0 { report.feed?.complete = false }
            if shards.count > 1 || shards.contains(where: { $0.takeovers > 0 }) {
                let earlier = Array(Set(shards.flatMap(\.earlierHolders))).sorted()
                report.notes.append("done by " + Array(Set(shards.compactMap(\.holder))).sorted().joined(separator: ", ")
                                    + (earlier.isEmpty ? "" : " (taken over from \(earlier.joined(separator: ", ")))")
                                    + " in \(shards.count) shard(s)")
            }
            succeeded = succeeded && report.succeeded
            try Self.record(report, run: run, ledger: ledger)
        }
        try ledger.finishRun(id: run, status: succeeded ? .succeeded : .failed, at: Timestamps.precise(settings.time.now()))
    }
}

/// The shard a worker renders, the lease it holds it under, and whether an earlier holder already
/// rendered it to its end.
struct ShardWork: Sendable {
    let shard: Shard
    let rendered: Bool
    let lease: ItemLease
}

/// A claimed item's lease, on a ledger connection of its own: renewed by a heartbeat every third of
/// its length, checked (by the server's clock) before every write that moves the feed on. A worker
/// whose lease ran out — stalled, cut off — stops before sending more; the item is someone else's.
final class ItemLease: @unchecked Sendable {
    let item: RunItem
    let worker: String
    private let seconds: Int
    private let items: RunItems
    private let lock = NSLock()
    private let stopping = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private var lost = false
    private var ended = false

    init(_ item: RunItem, worker: String, seconds: Int, base: SQLLedger) throws {
        self.item = item
        self.worker = worker
        self.seconds = seconds
        guard let connection = try base.connect() as? SQLLedger else { throw ExportError.internalFailure("not a SQL ledger") }
        items = try RunItems(connection)
        let heartbeat = Thread { [self] in
            defer { stopped.signal() }
            let interval = max(0.2, Double(seconds) / 3)
            while stopping.wait(timeout: .now() + interval) == .timedOut {
                lock.lock()
                // A failed query is tried again at the next beat; only "not yours any more" ends the lease.
                let renewed = try? items.renew(item, worker: worker, leaseSeconds: seconds)
                if renewed == false { lost = true }
                lock.unlock()
                if renewed == false { return }
            }
        }
        heartbeat.start()
    }

    /// Throws unless this worker still holds the item under a lease that has not run out (a failed
    /// query is the ledger's error, not a lost lease).
    func check() throws {
        lock.lock()
        defer { lock.unlock() }
        if !lost, try items.holds(item, worker: worker) { return }
        lost = true
        throw lostError()
    }

    /// Whether this worker found it no longer holds the item.
    var wasLost: Bool {
        lock.lock()
        defer { lock.unlock() }
        return lost
    }

    /// The fence for the item's writes (checked inside their transactions).
    var fence: SQLLedger.Fence { RunItems.fence(item, worker: worker, error: lostError()) }

    /// Gives the item up for another worker (or this one) to take over from what is recorded.
    func release() throws {
        stop()
        lock.lock()
        defer { lock.unlock() }
        try items.release(item, worker: worker)
    }

    /// Records that the first shard resent what earlier runs left in doubt (the other shards may start).
    func markRecovered() throws {
        lock.lock()
        defer { lock.unlock() }
        try items.markRecovered(item, worker: worker)
    }

    /// Whether the partner's first shard resent what earlier runs left in doubt.
    func partnerRecovered() throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return try items.recovered(run: item.runID, partner: item.partner)
    }

    func lostError() -> ExportError {
        ExportError.environment("worker \(worker) lost its lease on partner \(item.partner)'s shard \(item.shard) of \(item.shards) "
                                + "(not renewed within \(seconds) s, or the run ended): it stopped before sending more; whichever "
                                + "worker claims the shard next (this one too) carries on from what is recorded")
    }

    /// Records that this worker rendered the shard to its end; whether every shard of the feed is (nil: the lease is lost).
    func markRendered() throws -> Bool? {
        try check()
        lock.lock()
        defer { lock.unlock() }
        return try items.markRendered(item, worker: worker)
    }

    /// Records how the item ended; false when the lease was lost (the item is someone else's now).
    func finish(status: RunItem.Status, report: String) throws -> Bool {
        stop()
        lock.lock()
        defer { lock.unlock() }
        return try items.finish(item, worker: worker, status: status, report: report)
    }

    /// Stops the heartbeat (and waits for it).
    func stop() {
        lock.lock()
        let first = !ended
        ended = true
        lock.unlock()
        guard first else { return }
        stopping.signal()
        stopped.wait()
    }
}

extension PartnerReport {
    /// Counts a delivery the partner acknowledged in this run that no shard's report holds (its
    /// worker died after the acknowledgement, before it reported).
    mutating func add(delivered delivery: DeliveryRecord, allowedForms: (String) -> [String]?) {
        delivered += 1
        deliveries += 1
        records += delivery.recordCount
        bytes += delivery.bytes
        changes?.noticesSent += delivery.noticeCount
        for (i, shape) in delivery.shape.enumerated() {
            addValues(of: FieldReport(name: shape.name, from: shape.from, form: shape.form,
                                      values: i < delivery.fieldCounts.count ? delivery.fieldCounts[i] : 0,
                                      allowedForms: allowedForms(shape.from)))
        }
        actions.append(DeliveryAction(delivery: delivery.id, batch: delivery.batch, action: .sent,
                                      status: DeliveryStatus.delivered.rawValue))
    }

    /// Adds `field`'s values to the line of the same field (name, source and form), or adds the line.
    mutating func addValues(of field: FieldReport) {
        if let k = fields.firstIndex(where: { $0.name == field.name && $0.from == field.from && $0.form == field.form }) {
            fields[k].values += field.values
        } else {
            fields.append(field)
        }
    }

    /// One partner's report from its shards' (each done by one worker): counts summed, the worst
    /// status (and its error), the first start and the last end; nil for no reports.
    static func merged(_ shards: [PartnerReport]) -> PartnerReport? {
        guard var merged = shards.first else { return nil }
        guard shards.count > 1 else { return merged }
        let order: [PartnerStatus] = [.error, .held, .rejected, .failed, .delivered, .nothingToSend]
        func rank(_ report: PartnerReport) -> Int { order.firstIndex { $0.rawValue == report.status } ?? 0 }
        let worst = shards.min { rank($0) < rank($1) } ?? merged
        merged.status = worst.status
        merged.error = worst.error ?? shards.compactMap(\.error).first
        for shard in shards.dropFirst() {
            if let eligible = shard.eligible { merged.eligible = (merged.eligible ?? 0) + eligible }
            merged.records += shard.records
            merged.deliveries += shard.deliveries
            merged.delivered += shard.delivered
            merged.failed += shard.failed
            merged.deliveriesRejected += shard.deliveriesRejected
            merged.held += shard.held
            merged.superseded += shard.superseded
            merged.rejectedRecords += shard.rejectedRecords
            merged.rejectedByReason.merge(shard.rejectedByReason, uniquingKeysWith: +)
            merged.replacedCharacters += shard.replacedCharacters
            merged.retries += shard.retries
            merged.recovered += shard.recovered
            merged.bytes += shard.bytes
            merged.startedAt = min(merged.startedAt, shard.startedAt)
            if let end = shard.finishedAt { merged.finishedAt = max(merged.finishedAt ?? end, end) }
            for field in shard.fields { merged.addValues(of: field) }
            merged.actions += shard.actions
            merged.notes += shard.notes.filter { !merged.notes.contains($0) }
            merged.alerts += shard.alerts
            if let changes = shard.changes {
                if var sum = merged.changes {
                    sum.new += changes.new
                    sum.changed += changes.changed
                    sum.unchanged += changes.unchanged
                    sum.noticesDue.merge(changes.noticesDue, uniquingKeysWith: +)
                    sum.noticesSent += changes.noticesSent
                    sum.unnamed += changes.unnamed
                    merged.changes = sum
                } else {
                    merged.changes = changes
                }
            }
        }
        // What the contract allows that no shard sent.
        let sent = Set(merged.fields.map(\.from))
        var listed: Set<String> = []
        merged.allowedNotSent = shards.flatMap(\.allowedNotSent).filter { !sent.contains($0.field) && listed.insert($0.field).inserted }
        merged.actions.sort { $0.batch < $1.batch }
        merged.durationSeconds = Timestamps.seconds(from: merged.startedAt, to: merged.finishedAt)
        return merged
    }
}
