import ExportCore

/// Runs and each partner's part of them.
public protocol RunLog: AnyObject {
    /// Records a run as `running`, with whether it sends deletion notices beyond the guard.
    func startRun(id: String, trigger: RunTrigger, partners: [String], at time: String, allowDeletions: Bool) throws
    func finishRun(id: String, status: RunStatus, at time: String) throws
    /// Runs left `running` by a process that died (the caller holds the lock, so none is alive).
    func markInterruptedRuns(at time: String) throws -> Int
    func recordPartner(run: String, _ record: PartnerRunRecord) throws
    /// Newest first; every run when `limit` is nil.
    func runs(limit: Int?) throws -> [RunRecord]
    func runCount() throws -> Int
    func run(_ id: String) throws -> RunRecord?
    func partnerRuns(run: String) throws -> [PartnerRunRecord]
    /// When `partner`'s last run (manual or scheduled, not a rerun) finished, whatever its outcome.
    func lastCompletedRun(partner: String) throws -> String?
    /// The items of a run shared by several workers, by partner and shard (none in a SQLite ledger).
    func workItems(run: String) throws -> [RunItem]
}

/// Feeds: which run started each partner's feed, whether every batch of it was rendered and acknowledged.
public protocol FeedLog: AnyObject {
    func startFeed(_ feed: FeedRecord) throws
    func feed(_ id: String) throws -> FeedRecord?
    /// The partner's newest feed.
    func latestFeed(partner: String) throws -> FeedRecord?
    /// The partners whose newest feed is not complete: owed deliveries, or a render that never
    /// reached its end (a run stopped mid-render leaves nothing owed, yet the feed is incomplete).
    func partnersWithIncompleteFeeds() throws -> [String]
    /// Every batch of `feed` is recorded (`batches` is the highest number). In the same transaction,
    /// what the partner's older feeds still owe (and is not in doubt) is superseded by it: the new
    /// feed holds every record that is eligible now. Returns the superseded deliveries, whose
    /// payloads nothing will send again.
    func finishRender(feed: String, batches: Int, at time: String) throws -> [DeliveryRecord]
    /// Marks `feed` complete (by `run`) when it is rendered and nothing of it is owed; returns whether it is.
    func settleFeed(_ feed: String, by run: String, at time: String) throws -> Bool
    /// The feeds `run` started (what became of them later: completed by, superseded by).
    func feeds(startedBy run: String) throws -> [FeedRecord]
}

/// Deliveries and their attempts. Every status change happens here, each in one transaction.
public protocol DeliveryLog: AnyObject {
    /// Records a pending delivery (its payload already stored) and, in the same transaction, marks
    /// `old` superseded by it.
    func createDelivery(_ new: NewDelivery, superseding old: DeliveryRecord?, at time: String) throws -> DeliveryRecord
    /// Records that attempt `number` is about to go out, durably, before the request may leave: a
    /// crash from here on leaves the delivery in doubt, never forgotten.
    func beginAttempt(delivery: DeliveryRecord, number: Int, run: String, at time: String) throws
    /// Records how the attempt ended and, in the same transaction, what it did to the delivery (a
    /// 2xx: `delivered` with every disclosure) and the partner's counters. `contents`, when given,
    /// are the manifest and change set `createDelivery` recorded for it (nil: read from the ledger).
    func finishAttempt(delivery: DeliveryRecord, number: Int, result: AttemptRecord, transition: DeliveryTransition,
                       at time: String, contents: DeliveryContents?) throws
    /// A pending delivery with an attempt on record whose run died: the request may have been read.
    func markInDoubt(_ delivery: DeliveryRecord) throws
    /// Not sent because an earlier batch of its feed was not delivered, or the deletion guard held
    /// the partner (`code` `deletions.guard`): owed, `held`.
    func hold(_ delivery: DeliveryRecord, reason: String, code: String?) throws
    /// Ends `failed` without an attempt (its stored bytes could not be sent, a partner could not start).
    func fail(_ delivery: DeliveryRecord, error: ExportError) throws
    /// Records that the delivery's stored payload is not the bytes it recorded (`payload.mismatch`):
    /// the file is evidence, kept by `prune` (unless told) whatever becomes of the delivery.
    func markAltered(_ delivery: DeliveryRecord, error: ExportError) throws
    /// Marks `delivery` superseded by `successor` (nil: nothing left to send). Refused for a delivery
    /// in doubt. Returns true: its payload may go (the caller deletes the file).
    func supersede(_ delivery: DeliveryRecord, by successor: String?, reason: String, at time: String) throws -> Bool
    func delivery(_ id: String) throws -> DeliveryRecord?
    /// Newest first.
    func deliveries(_ query: DeliveryQuery) throws -> [DeliveryRecord]
    func deliveryCount(_ query: DeliveryQuery) throws -> Int
    /// What `partner` is still owed: deliveries neither delivered nor superseded, oldest first.
    func owed(partner: String) throws -> [DeliveryRecord]
    /// Partners with owed deliveries, and how many each.
    func owedByPartner() throws -> [String: Int]
    func manifest(of delivery: DeliveryRecord) throws -> Manifest
    /// The deliveries an attempt of run `run` got acknowledged (the run that delivered them, whichever created them).
    func acknowledged(inRun run: String) throws -> Set<String>
}

/// Who received which customer's data.
public protocol DisclosureLog: AnyObject {
    /// Every disclosure of one customer, oldest first.
    func disclosures(customerID: Int64) throws -> [DisclosureRecord]
    /// The disclosures of each delivery acknowledged at or after `since` (RFC 3339; nil: all): what the
    /// record of processing reports as actually disclosed.
    func disclosureTotals(since: String?) throws -> [DisclosureTotal]
}

/// What one acknowledged delivery disclosed: its shape and how many values of each field it carried,
/// the customers whose records it held, and those it told to forget.
public struct DisclosureTotal: Sendable, Equatable {
    public let partner: String
    /// The fields the delivery's records carried.
    public let shape: [FieldShape]
    /// Non-null values of each field of ``shape`` (a field always null disclosed nothing).
    public let fieldCounts: [Int]
    /// The output name of the key field: what a deletion notice carries.
    public let keyField: String?
    /// Customers whose records it held.
    public let records: Int
    /// Customers it told to forget (deletion notices).
    public let notices: Int

    public init(partner: String, shape: [FieldShape], fieldCounts: [Int], keyField: String?, records: Int, notices: Int) {
        self.partner = partner
        self.shape = shape
        self.fieldCounts = fieldCounts
        self.keyField = keyField
        self.records = records
        self.notices = notices
    }
}

/// What each partner holds: per customer it received and was not told to forget, the key value and a
/// digest of the record as it acknowledged them (written only when a delivery is marked delivered).
public protocol HoldingsLog: AnyObject {
    /// How many customers of `range` the partner holds.
    func holdingsCount(partner: String, range: IDRange) throws -> Int
    /// Up to `limit` of the partner's holdings within `range` and after `after`, in id order; with
    /// `idsOnly`, their keys and digests are left empty (a merge with ids alone needs none).
    func holdings(partner: String, range: IDRange, after: Int64?, limit: Int, idsOnly: Bool) throws -> HoldingsPage
    /// The key each of `ids` is held under, as stored (``KeyPacking``; absent: not held; empty: unknown).
    func keys(partner: String, ids: [Int64]) throws -> [Int64: [UInt8]]
}

/// What `prune` may delete.
public protocol RetentionLog: AnyObject {
    /// Deliveries created before `cutoff` whose payload is still stored and may go: delivered or
    /// superseded ones, owed ones and altered ones (evidence) only when `includeFailed`. Never pending
    /// ones or ones in doubt. `kept` lists the owed and altered ones left.
    func payloadsToPrune(createdBefore cutoff: String, includeFailed: Bool) throws -> (prunable: [DeliveryRecord], kept: [DeliveryRecord])
    func markPayloadPruned(_ delivery: DeliveryRecord, at time: String) throws
    /// Deletes settled deliveries (with their attempts and disclosures) created before `cutoff`, and
    /// runs left without deliveries that started before it.
    func pruneLedger(createdBefore cutoff: String) throws -> (deliveries: Int, disclosures: Int, runs: Int)
    /// Payload paths (relative) the ledger still refers to.
    func payloadPaths() throws -> Set<String>
}

/// Counters that never go down, and each partner's figures for the metrics file.
public protocol CounterLog: AnyObject {
    func add(_ amount: Int, to counter: String, partner: String) throws
    /// Sets a figure that goes up and down (``CounterName/noticesDue``), as of the last look.
    func set(_ value: Int, of gauge: String, partner: String) throws
    func totals() throws -> [String: PartnerTotals]
}

/// The tamper-evident disclosure log (docs/audit.md): the tree's stored state and the entries as leaves.
public protocol AuditLog: AnyObject {
    func logState() throws -> LogState
    /// Every entry from index `from` on, in index order, as its exact leaf bytes (rows without an
    /// index first, with `index` nil).
    func forEachLogLeaf(from: UInt64, _ body: (LogLeafRow) throws -> Void) throws
    /// Rows numbered below `index` (or below 0): how many, and the first one's customer.
    func logRows(before index: UInt64) throws -> (count: Int, firstCustomer: Int64?)
    /// Runs `body`, whose reads all see the ledger as of one moment (a run committing meanwhile is
    /// not seen half): the log's stored state and its rows agree.
    func readSnapshot<T>(_ body: () throws -> T) throws -> T
    /// The id of the delivery acknowledged last (nil: none), remembered with a signature: it holds the
    /// newest entries of the log.
    func newestDelivered() throws -> String?
    /// Whether delivery `id` is in the ledger, acknowledged.
    func hasDelivered(_ id: String) throws -> Bool
}

/// The log's tree as the ledger keeps it: over every entry, and over the prefix `prune` removed.
public struct LogState: Sendable, Equatable {
    public var tree: MerkleFrontier
    public var pruned: MerkleFrontier

    public init(tree: MerkleFrontier, pruned: MerkleFrontier) {
        self.tree = tree
        self.pruned = pruned
    }
}

/// One entry read back: its index as stored, the customer, and its leaf bytes (valid during the call).
public struct LogLeafRow {
    public let index: Int64?
    public let customerID: Int64
    public let leaf: UnsafeRawBufferPointer
}

/// The ledger (docs/design.md, "The ledger"): the one way the pipeline and the commands reach the
/// tool's state. ``SQLLedger`` conforms over SQLite (`SQLiteLedger.open`) and PostgreSQL
/// (`PostgresLedger.open`); callers get one from ``LedgerLocation/open(_:)`` and see only this protocol.
///
/// One connection per thread: a thread that needs the ledger asks ``connect()`` for its own.
///
/// ```swift
/// let ledger = try LedgerLocation("state/ledger.sqlite").open(.write(create: false))
/// for delivery in try ledger.owed(partner: "acme-offers") { print(delivery.id, delivery.status) }
/// ```
public protocol LedgerStore: RunLog, FeedLog, DeliveryLog, DisclosureLog, HoldingsLog, RetentionLog, CounterLog, AuditLog,
                             PartnerControlLog, IncidentLog {
    /// Where it is, for messages (a path; never a password).
    var location: String { get }
    /// Checked before every write that moves a feed on (the run lock still held, see ``RunLock/check()``);
    /// a throw stops the write. Connections made by ``connect()`` keep it.
    var writeGuard: (@Sendable () throws -> Void)? { get set }
    /// A new connection to the same ledger, for another thread (with the same write guard and fence).
    func connect() throws -> sending Self
    /// Makes such connections on any thread (a connection itself stays on the thread that uses it).
    var connector: LedgerConnector { get }
}

/// Opens connections to one ledger from any thread, each with the write guard and fence of the
/// connection it came from.
public struct LedgerConnector: Sendable {
    private let make: @Sendable () throws -> sending any LedgerStore

    public init(_ make: @escaping @Sendable () throws -> sending any LedgerStore) { self.make = make }

    public func connect() throws -> sending any LedgerStore { try make() }
}

extension RunLog {
    /// A run that keeps to the deletion guard.
    public func startRun(id: String, trigger: RunTrigger, partners: [String], at time: String) throws {
        try startRun(id: id, trigger: trigger, partners: partners, at: time, allowDeletions: false)
    }
}

extension DeliveryLog {
    /// Held because an earlier batch of its feed was not delivered.
    public func hold(_ delivery: DeliveryRecord, reason: String) throws { try hold(delivery, reason: reason, code: nil) }
}

extension LedgerStore {
    /// The partners whose feed a rerun would complete: something owed, or a newest feed whose render
    /// stopped part way (nothing owed, still incomplete). The one answer `rerun --failed` and the run
    /// report's "incomplete elsewhere" give.
    public func partnersToComplete() throws -> Set<String> {
        Set(try owedByPartner().keys).union(try partnersWithIncompleteFeeds())
    }
}

extension HoldingsLog {
    /// How many customers the partner holds.
    public func holdingsCount(partner: String) throws -> Int { try holdingsCount(partner: partner, range: .all) }
}

extension DeliveryLog {
    /// ``finishAttempt(delivery:number:result:transition:at:contents:)``, reading what the delivery
    /// changes from the ledger.
    public func finishAttempt(delivery: DeliveryRecord, number: Int, result: AttemptRecord, transition: DeliveryTransition,
                              at time: String) throws {
        try finishAttempt(delivery: delivery, number: number, result: result, transition: transition, at: time, contents: nil)
    }
}
