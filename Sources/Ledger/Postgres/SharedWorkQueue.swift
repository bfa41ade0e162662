import ExportCore
import Foundation
import Synchronization

/// The work queue of a PostgreSQL ledger: a run's items in `run_items` (``RunItems``), claimed by any
/// process that holds the run lock with it, each under a lease its holder renews; an item whose
/// holder died or stalled is taken over from what is recorded.
public final class SharedWorkQueue: WorkQueue {
    let leaseSeconds: Int
    /// The claiming process's lock session (its liveness, as the server sees it).
    let session: Int32?

    public init(leaseSeconds: Int, session: Int32?) {
        self.leaseSeconds = leaseSeconds
        self.session = session
    }

    public var isShared: Bool { true }

    private func items(_ ledger: any LedgerStore) throws -> RunItems {
        guard let sql = ledger as? SQLLedger else { throw ExportError.internalFailure("a shared run needs a PostgreSQL ledger connection") }
        return try RunItems(sql)
    }

    public func start(_ run: NewRun, items: [RunItem], on ledger: any LedgerStore) throws -> StartedRun {
        let started = try self.items(ledger).start(run: run.id, trigger: run.trigger, partners: run.partners, at: run.startedAt,
                                                   items: items, slot: run.slot, leaseSeconds: leaseSeconds, session: session,
                                                   allowDeletions: run.allowDeletions)
        return StartedRun(run: started.run, made: started.made, busy: started.busy)
    }

    public func runInProgress(on ledger: any LedgerStore) throws -> String? { try items(ledger).runInProgress() }

    public func partnersInProgress(notIn run: String, on ledger: any LedgerStore) throws -> [String] {
        try items(ledger).partnersInProgress(notIn: run)
    }

    public func unsettled(on ledger: any LedgerStore) throws -> [String] { try items(ledger).unsettled() }

    public func claim(run: String, worker: String, partners: [String], on ledger: any LedgerStore) throws -> (any WorkHold)? {
        guard let sql = ledger as? SQLLedger,
              let item = try items(ledger).claim(run: run, worker: worker, leaseSeconds: leaseSeconds, session: session,
                                                 partners: partners) else { return nil }
        return try LeasedHold(item, worker: worker, seconds: leaseSeconds, base: sql)
    }

    public func waiting(run: String, process: String, partners: [String], on ledger: any LedgerStore) throws -> Int {
        try items(ledger).waiting(run: run, notHeldBy: process, partners: partners)
    }

    public func items(run: String, on ledger: any LedgerStore) throws -> [RunItem] { try items(ledger).items(run: run) }
}

/// A claimed item's lease, on a ledger connection of its own: renewed by a heartbeat every third of
/// its length, checked (by the server's clock) before every write that moves the feed on, and inside
/// the write's transaction. A worker whose lease ran out — stalled, cut off — stops before sending
/// more; the item is someone else's.
final class LeasedHold: WorkHold {
    let item: RunItem
    let worker: String
    private let seconds: Int
    /// The lease's connection and what became of it, one thread at a time (the heartbeat, the worker).
    private let lease: Mutex<Lease>
    private let stopping = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    private struct Lease: ~Copyable {
        let items: RunItems
        var lost = false
        var ended = false
    }

    init(_ item: RunItem, worker: String, seconds: Int, base: SQLLedger) throws {
        self.item = item
        self.worker = worker
        self.seconds = seconds
        lease = Mutex(Lease(items: try RunItems(try base.connect())))
        let heartbeat = Thread { [self] in
            defer { stopped.signal() }
            let interval = max(0.2, Double(seconds) / 3)
            while stopping.wait(timeout: .now() + interval) == .timedOut {
                // A failed query is tried again at the next beat; only "not yours any more" ends the lease.
                let renewed = lease.withLock { lease in
                    let renewed = try? lease.items.renew(item, worker: worker, leaseSeconds: seconds)
                    if renewed == false { lease.lost = true }
                    return renewed
                }
                if renewed == false { return }
            }
        }
        heartbeat.start()
    }

    /// Throws unless this worker still holds the item under a lease that has not run out (a failed
    /// query is the ledger's error, not a lost lease).
    func check() throws {
        try lease.withLock { lease in try check(&lease) }
    }

    private func check(_ lease: inout Lease) throws {
        if !lease.lost, try lease.items.holds(item, worker: worker) { return }
        lease.lost = true
        throw lostError()
    }

    var wasLost: Bool { lease.withLock { $0.lost } }

    func guarding(_ ledger: any LedgerStore, lock runLock: any RunLock) throws {
        guard let sql = ledger as? SQLLedger else { throw ExportError.internalFailure("a shared run needs a PostgreSQL ledger connection") }
        sql.writeGuard = { [self] in
            try runLock.check()
            try check()
        }
        // And inside each write's transaction, after the writers' turn: a takeover cannot come between.
        sql.fence = RunItems.fence(item, worker: worker, error: lostError())
    }

    func release() throws {
        stop()
        try lease.withLock { try $0.items.release(item, worker: worker) }
    }

    func markRecovered() throws {
        try lease.withLock { try $0.items.markRecovered(item, worker: worker) }
    }

    func partnerRecovered() throws -> Bool {
        try lease.withLock { try $0.items.recovered(run: item.runID, partner: item.partner) }
    }

    func lostError() -> ExportError {
        ExportError.environment("worker \(worker) lost its lease on partner \(item.partner)'s shard \(item.shard) of \(item.shards) "
                                + "(not renewed within \(seconds) s, or the run ended): it stopped before sending more; whichever "
                                + "worker claims the shard next (this one too) carries on from what is recorded")
    }

    func markRendered() throws -> Bool? {
        try lease.withLock { lease in
            try check(&lease)
            return try lease.items.markRendered(item, worker: worker)
        }
    }

    func finish(_ status: RunItem.Status, result: String) throws -> Bool {
        stop()
        return try lease.withLock { try $0.items.finish(item, worker: worker, status: status, report: result) }
    }

    func stop() {
        let first = lease.withLock { lease in
            defer { lease.ended = true }
            return !lease.ended
        }
        guard first else { return }
        stopping.signal()
        stopped.wait()
    }
}
