import ExportCore
import Foundation
import Ledger
import Synchronization

/// The one executor of every run (docs/design.md, "The run on one page"): `parallel` threads, each
/// with its own ledger connection, take items from the run's ``WorkQueue`` and run each one's partner
/// shard (``PartnerRun``) until none is left that this process could take. When nothing is free but
/// an item is still to be done elsewhere (another process holds it, or a partner's first shard has
/// not yet resent what earlier runs left), a thread waits and looks again: if that holder dies, its
/// item is taken over here. An item that fails on the way ends failed with its error (the run settles
/// and reports it); a thread that lost the run's lock stops, and a shared run's item it held is
/// taken over once its lease runs out.
struct Executor {
    let runner: Runner
    let queue: any WorkQueue
    let lock: any RunLock
    let mode: RunMode
    let context: RunContext

    /// How this process is named among the run's workers (each thread is `name #k`).
    var process: String {
        if let worker = runner.settings.worker { return worker }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        return "\(String(cString: host)) pid \(getpid())"
    }

    /// Works until nothing is left this process could take (blocks); each thread's connections come
    /// from `connector`.
    func work(connector: LedgerConnector) throws {
        let process = process
        let threads = max(1, runner.settings.parallel)
        // What stopped each thread, in the threads' order.
        let problems = Mutex<[ExportError?]>(Array(repeating: nil, count: threads))
        let group = DispatchGroup()
        @Sendable func loop(_ thread: Int) {
            do {
                try claimLoop(worker: "\(process) #\(thread)", process: "\(process) #", connector: connector)
            } catch {
                let problem = ExportError.wrapping(error).located("worker \(process) #\(thread)")
                problems.withLock { $0[thread - 1] = problem }
            }
        }
        // Threads of their own (a big stack whatever the caller's thread has), the caller waiting for them.
        for thread in 1...threads {
            group.enter()
            let worker = Thread {
                defer { group.leave() }
                loop(thread)
            }
            worker.stackSize = 8 << 20
            worker.start()
        }
        group.wait()
        if let first = problems.withLock({ $0.compactMap { $0 }.first }) { throw first }
    }

    private func claimLoop(worker: String, process: String, connector: LedgerConnector) throws {
        let ledger = try connector.connect()
        // Only the partners configured here: a shard of one this worker does not know is left to those that do.
        let known = runner.settings.configuration.partners.map(\.id)
        while true {
            try lock.check()
            if let hold = try queue.claim(run: context.runID, worker: worker, partners: known, on: ledger) {
                try work(hold, worker: worker, connector: connector)
                continue
            }
            // Nothing to claim now: done, unless an item is still to be done that may yet be this worker's.
            if try queue.waiting(run: context.runID, process: process, partners: known, on: ledger) == 0 { return }
            // Short: a worker waiting for another's last item ends (and reports) soon after it; one cheap query each time.
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// One item: its partner's shard, worked under its hold; how it ended is recorded on the item. What
    /// goes wrong on the way (the ledger unreachable for this item's connection, a count that cannot be
    /// written) is the item's error, recorded with it so that the run still settles; only a lost lock
    /// stops this thread.
    private func work(_ hold: any WorkHold, worker: String, connector: LedgerConnector) throws {
        defer { hold.stop() }
        let item = hold.item
        let result: PartnerResult
        do {
            guard let worked = try outcome(of: hold, worker: worker, connector: connector) else { return }
            result = worked
        } catch {
            try lock.check()
            if hold.wasLost {
                runner.warn(hold.lostError())
                return
            }
            var failed = PartnerResult(partner: item.partner, status: .error, startedAt: Timestamps.precise(context.time.now()))
            failed.finishedAt = failed.startedAt
            failed.error = ExportError.wrapping(error).located("partner \(item.partner), shard \(item.shard) of \(item.shards)")
            result = failed
        }
        // The shard's own outcome (the feed is complete only once every shard is).
        if try !hold.finish(result.status.succeeded ? .done : .failed, result: try JSONCoding.compact(result)) {
            runner.warn(hold.lostError())
        }
    }

    /// The item's result, or nil when its hold was lost on the way (the item is someone else's now).
    private func outcome(of hold: any WorkHold, worker: String, connector: LedgerConnector) throws -> PartnerResult? {
        let item = hold.item
        let connection = try connector.connect()
        try hold.guarding(connection, lock: lock)
        let result: PartnerResult
        if let partner = runner.settings.configuration.partner(item.partner) {
            let shard = Shard(index: item.shard, count: item.shards, range: item.range)
            let outcome = runner.runPartner(partner, mode: mode, context: context, ledger: connection,
                                            work: ShardWork(shard: shard, rendered: item.rendered, hold: hold))
            // Lost on the way (stalled past the lease; its connection may have been ended too): the shard is
            // left to whoever claims it next, nothing more is recorded from here.
            if hold.wasLost || (try? hold.check()) == nil {
                try? hold.release()
                runner.warn(hold.lostError())
                return nil
            }
            result = try runner.count(outcome, ledger: connection)
        } else {
            var missing = PartnerResult(partner: item.partner, status: .error, startedAt: Timestamps.precise(context.time.now()))
            missing.finishedAt = missing.startedAt
            missing.error = ExportError.configuration(
                "partner \(item.partner) is not configured on worker \(worker): every worker of a shared run needs the same "
                    + "configuration; nothing was sent for its shard \(item.shard) of \(item.shards)")
            result = missing
        }
        return result
    }
}
