import ExportCore
import Synchronization

/// The work queue of a SQLite ledger, whose runs are one process's (its lock is a file lock): the
/// run's items wait in this process's memory, each taken by one of its threads. There is no lease to
/// renew and nobody to take an item over: a process that dies leaves its deliveries in the ledger,
/// where the next run finds what is in doubt.
public final class LocalWorkQueue: WorkQueue {
    fileprivate struct Entry: Sendable {
        var item: RunItem
        /// The partner's first shard resent what earlier runs left in doubt.
        var recovered = false
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    public var isShared: Bool { false }

    public func start(_ run: NewRun, items: [RunItem], on ledger: any LedgerStore) throws -> StartedRun {
        try ledger.startRun(id: run.id, trigger: run.trigger, partners: run.partners, at: run.startedAt,
                            allowDeletions: run.allowDeletions)
        entries.withLock { $0 = items.map { Entry(item: $0) } }
        return StartedRun(run: run.id, made: true, busy: nil)
    }

    public func runInProgress(on ledger: any LedgerStore) throws -> String? { nil }

    public func partnersInProgress(notIn run: String, on ledger: any LedgerStore) throws -> [String] { [] }

    public func unsettled(on ledger: any LedgerStore) throws -> [String] { [] }

    public func claim(run: String, worker: String, partners: [String], on ledger: any LedgerStore) throws -> (any WorkHold)? {
        let claimed: RunItem? = entries.withLock { entries in
            let free = entries.indices.first { i in
                let item = entries[i].item
                guard item.runID == run, item.status == .pending, partners.contains(item.partner) else { return false }
                // A partner's other shards wait for its first, which resends what earlier runs left in doubt.
                return item.shard == 1 || entries.contains { $0.item.partner == item.partner && $0.item.shard == 1
                    && ($0.recovered || $0.item.status == .done || $0.item.status == .failed) }
            }
            guard let i = free else { return nil }
            entries[i].item = entries[i].item.with(status: .running, holder: .some(worker))
            return entries[i].item
        }
        return claimed.map { LocalHold(item: $0, worker: worker, queue: self) }
    }

    public func waiting(run: String, process: String, partners: [String], on ledger: any LedgerStore) throws -> Int {
        // Running items are this process's own threads'.
        entries.withLock { $0.filter { $0.item.runID == run && $0.item.status == .pending && partners.contains($0.item.partner) }.count }
    }

    public func items(run: String, on ledger: any LedgerStore) throws -> [RunItem] {
        entries.withLock { $0.map(\.item).filter { $0.runID == run } }
    }

    // MARK: - What a hold does to its item

    fileprivate func update(_ item: RunItem, _ change: (inout Entry) -> Void) {
        entries.withLock { entries in
            guard let i = entries.firstIndex(where: { $0.item.partner == item.partner && $0.item.shard == item.shard }) else { return }
            change(&entries[i])
        }
    }

    fileprivate func recovered(partner: String) -> Bool {
        entries.withLock { $0.contains { $0.item.partner == partner && $0.item.shard == 1 && $0.recovered } }
    }

    fileprivate func markRendered(_ item: RunItem) -> Bool {
        entries.withLock { entries in
            for i in entries.indices where entries[i].item.partner == item.partner && entries[i].item.shard == item.shard {
                entries[i].item = entries[i].item.with(rendered: true)
            }
            return entries.filter { $0.item.partner == item.partner }.allSatisfy(\.item.rendered)
        }
    }
}

/// An item a thread of this process took: never lost, never taken over.
private final class LocalHold: WorkHold {
    let item: RunItem
    private let worker: String
    private let queue: LocalWorkQueue

    init(item: RunItem, worker: String, queue: LocalWorkQueue) {
        self.item = item
        self.worker = worker
        self.queue = queue
    }

    func check() throws {}

    var wasLost: Bool { false }

    func guarding(_ ledger: any LedgerStore, lock: any RunLock) throws {
        (ledger as? SQLLedger)?.writeGuard = { try lock.check() }
    }

    func markRecovered() throws { queue.update(item) { $0.recovered = true } }

    func partnerRecovered() throws -> Bool { queue.recovered(partner: item.partner) }

    func markRendered() throws -> Bool? { queue.markRendered(item) }

    func finish(_ status: RunItem.Status, result: String) throws -> Bool {
        queue.update(item) { $0.item = $0.item.with(status: status, report: .some(result)) }
        return true
    }

    func release() throws { queue.update(item) { $0.item = $0.item.with(status: .pending, holder: .some(nil)) } }

    func stop() {}

    func lostError() -> ExportError { .internalFailure("an item of this process's own run cannot be lost") }
}
