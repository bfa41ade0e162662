import ExportCore

/// The lock that keeps runs from overlapping: a file lock beside a SQLite ledger, a session advisory
/// lock in PostgreSQL (held together by the workers of shared runs).
public protocol RunLock: AnyObject, Sendable {
    /// Throws unless the lock is still held (a PostgreSQL session the server ended took it with it):
    /// nothing more may be sent.
    func check() throws
    /// The lock session's backend pid (PostgreSQL): while it is there, the process is alive, and an
    /// item it holds is not taken over before its lease runs out. Nil for a file lock.
    var session: Int32? { get }
    /// This process has the ledger to itself (a file lock; a PostgreSQL rerun or prune): every run
    /// still marked running was left by a process that died.
    var exclusive: Bool { get }
}

/// A run to start, with its items.
public struct NewRun: Sendable {
    public var id: String
    public var trigger: RunTrigger
    public var partners: [String]
    public var startedAt: String
    /// A due schedule slot: processes started for the same slot share one run.
    public var slot: String?
    /// `--allow-deletions`: the run's, applied by every worker of it.
    public var allowDeletions: Bool

    public init(id: String, trigger: RunTrigger, partners: [String], startedAt: String, slot: String? = nil, allowDeletions: Bool) {
        self.id = id
        self.trigger = trigger
        self.partners = partners
        self.startedAt = startedAt
        self.slot = slot
        self.allowDeletions = allowDeletions
    }
}

/// What starting a run found: the run (this one, or the one another process made for the slot),
/// and which partners another run in progress keeps.
public struct StartedRun: Sendable {
    public let run: String
    public let made: Bool
    public let busy: String?

    public init(run: String, made: Bool, busy: String?) {
        self.run = run
        self.made = made
        self.busy = busy
    }
}

/// Where a run's work items come from (docs/design.md, "The run on one page"): every run, on either
/// ledger, is a set of items (partner × shard) that workers claim and finish; only the queue knows
/// whether they wait in this process's memory (``LocalWorkQueue``, a SQLite ledger) or in the ledger,
/// claimed with `SKIP LOCKED` under leases by any process (a PostgreSQL ledger). Every call goes
/// through the calling thread's own ledger connection.
///
/// ```swift
/// let started = try queue.start(NewRun(id: id, trigger: .manual, partners: ["acme"], startedAt: now, allowDeletions: false),
///                               items: items, on: ledger)
/// while let hold = try queue.claim(run: started.run, worker: "host pid 7 #1", partners: ["acme"], on: ledger) {
///     // … run hold.item's shard through a connection hold.guarding(…) …
///     _ = try hold.finish(.done, result: encoded)
/// }
/// ```
public protocol WorkQueue: AnyObject, Sendable {
    /// Whether other processes may work on this queue's runs (`run --join`, `run --due` on several machines).
    var isShared: Bool { get }
    /// Records the run and its items, pending (or finds the one another process made for the slot).
    /// A partner another live run still has items of is left out (`busy`), and when that is every
    /// one, this throws `lock.held`; runs nobody works on any more are marked interrupted.
    func start(_ run: NewRun, items: [RunItem], on ledger: any LedgerStore) throws -> StartedRun
    /// The newest run in progress with items left.
    func runInProgress(on ledger: any LedgerStore) throws -> String?
    /// The partners another run still running has items of.
    func partnersInProgress(notIn run: String, on ledger: any LedgerStore) throws -> [String]
    /// Runs still `running` every item of which ended: nobody settled them yet.
    func unsettled(on ledger: any LedgerStore) throws -> [String]
    /// The next item of `run` (of `partners`) nobody holds, taken under a hold; nil when none is free now.
    /// A partner's other shards wait for its first, which resends what earlier runs left in doubt.
    func claim(run: String, worker: String, partners: [String], on ledger: any LedgerStore) throws -> (any WorkHold)?
    /// How many items of `run` (of `partners`) are not done and not held by `process`'s own workers:
    /// pending ones not free yet, and ones another process holds (which may yet be left to this one).
    func waiting(run: String, process: String, partners: [String], on ledger: any LedgerStore) throws -> Int
    /// Every item of `run`, by partner and shard.
    func items(run: String, on ledger: any LedgerStore) throws -> [RunItem]
}

/// A claimed item, held until it is finished or released, or lost (a lease that ran out: another
/// worker may take it over from what is recorded).
public protocol WorkHold: AnyObject, Sendable {
    var item: RunItem { get }
    /// Throws unless this worker still holds the item.
    func check() throws
    /// Whether this worker found it no longer holds the item.
    var wasLost: Bool { get }
    /// `ledger` (a connection of the worker's own), every write that moves the item's feed on checked
    /// against the run's lock and this hold — before it, and inside its transaction after the
    /// writers' turn, so that no takeover comes between the check and the write.
    func guarding(_ ledger: any LedgerStore, lock: any RunLock) throws
    /// The partner's first shard resent what earlier runs left in doubt: its other shards may start.
    func markRecovered() throws
    /// Whether the partner's first shard did.
    func partnerRecovered() throws -> Bool
    /// This shard is rendered to its end; whether every shard of the partner's feed now is (nil: lost).
    func markRendered() throws -> Bool?
    /// Records how the item ended and its result; false when it was lost meanwhile (nothing written).
    func finish(_ status: RunItem.Status, result: String) throws -> Bool
    /// Gives the item up for whichever worker claims it next (this one too).
    func release() throws
    /// Stops renewing it (and waits for that to end).
    func stop()
    func lostError() -> ExportError
}
