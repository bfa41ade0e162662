import CustomerSource
import Delivery
import ExportConfig
import ExportCore
import FeedRendering
import Foundation
import Ledger
import Logging
import Pipeline

/// Everything a delivering command shares: the lock, the ledger, each partner's plan, credentials and
/// client — all checked before the first write, so that a configuration problem exits 2 and leaves
/// no trace — then partners in parallel (a small bound), batches in order within each.
struct RunCoordinator {
    let common: CommonOptions
    let configuration: Configuration
    let lock: StateLock
    let ledger: Ledger
    let payloads: PayloadStore
    let policy: RetryPolicy

    /// Takes the lock (exit 75 when held) and opens the ledger.
    init(common: CommonOptions, configuration: Configuration) throws {
        self.common = common
        self.configuration = configuration
        let folder = common.stateDirectory
        do {
            lock = try StateLock(folder: folder)
        } catch let held as StateLock.Held {
            throw CommandFailure("\(held)", exitCode: 75)
        }
        ledger = try Ledger(path: common.statePath)
        payloads = PayloadStore(folder: ledger.folder)
        let environment = ProcessInfo.processInfo.environment
        policy = RetryPolicy(baseSeconds: environment["PARTNER_EXPORT_RETRY_BASE_SECONDS"].flatMap(Double.init) ?? 1,
                             capSeconds: environment["PARTNER_EXPORT_RETRY_CAP_SECONDS"].flatMap(Double.init) ?? 120)
        try ledger.markInterruptedRuns(at: Clock.rfc3339(Clock.now()))
    }

    /// One partner, ready to deliver: the checks that can fail with exit 2 are done.
    struct Prepared: @unchecked Sendable {
        let plan: ExportPlan
        let schema: XSDSchema?
        let client: HTTPSClient
    }

    func prepare(_ partner: Partner) throws -> Prepared {
        let plan = try makePlan(partner)
        do {
            let credentials = try Credentials.load(for: partner.contract, configDirectory: configuration.directory)
            let client = try HTTPSClient(settings: partner.contract.delivery, credentials: credentials,
                                         configDirectory: configuration.directory)
            return Prepared(plan: plan, schema: try SchemaCheck.load(partner, in: configuration), client: client)
        } catch let error as DeliveryError {
            throw CommandFailure("partner \(partner.id): \(error)", exitCode: 2)
        }
    }

    /// Runs `work` for each prepared partner, at most `parallel` at a time, each with its own
    /// connections to the customer database and the ledger.
    func forEachPartner(_ prepared: [Prepared], parallel: Int,
                        _ work: @escaping @Sendable (Prepared, CustomerDatabase, Ledger) -> PartnerOutcome) -> [PartnerOutcome] {
        let results = Results(count: prepared.count)
        let slots = DispatchSemaphore(value: max(1, parallel))
        let databasePath = common.databasePath
        let ledgerPath = common.statePath
        let group = DispatchGroup()
        for (index, partner) in prepared.enumerated() {
            slots.wait()
            group.enter()
            let thread = Thread {
                defer {
                    slots.signal()
                    group.leave()
                }
                let started = Timestamps.precise(Clock.now())
                do {
                    let source = try CustomerDatabase(path: databasePath)
                    let ledger = try Ledger(path: ledgerPath)
                    results.set(index, work(partner, source, ledger))
                } catch {
                    var outcome = PartnerOutcome(partner: partner.plan.partner.id, startedAt: started)
                    outcome.status = .error
                    outcome.error = "\(error)"
                    results.set(index, outcome)
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return results.all
    }

    /// Records each partner's outcome and the run's end; returns whether everything succeeded.
    func finish(run: String, outcomes: [PartnerOutcome]) throws -> Bool {
        for outcome in outcomes {
            try ledger.recordPartner(run: run, RunPartnerRecord(
                partner: outcome.partner, status: outcome.status?.rawValue ?? "error", eligible: outcome.tally.eligible,
                records: outcome.tally.rendered, rejected: outcome.tally.rejectedCount,
                deliveries: outcome.delivered + outcome.failed + outcome.rejected, bytes: outcome.deliveredBytes,
                startedAt: outcome.startedAt, finishedAt: outcome.finishedAt, error: outcome.error,
                report: StoredPartnerReport.json(outcome, contract: configuration.partner(outcome.partner)?.contract)))
        }
        let succeeded = outcomes.allSatisfy(\.succeeded)
        try ledger.finishRun(id: run, status: succeeded ? "succeeded" : "failed", at: Timestamps.precise(Clock.now()))
        return succeeded
    }

    /// Logs attempts and waits with ids only, and keeps the progress line up to date.
    static func events(run: String, progress: Progress) -> RunEvents {
        RunEvents(
            attempt: { delivery, number, exchange, decision in
                switch decision {
                case .delivered: progress.attempted(partner: delivery.partner, delivered: true, retry: false)
                case .retry: progress.attempted(partner: delivery.partner, delivered: false, retry: true)
                default: progress.attempted(partner: delivery.partner, delivered: false, retry: false)
                }
                var metadata: Logger.Metadata = ["run.id": "\(run)", "partner.id": "\(delivery.partner)",
                                                 "delivery.id": "\(delivery.id)", "attempt": "\(number)"]
                if let status = exchange.status { metadata["http.status"] = "\(status)" }
                if exchange.curlCode != 0 { metadata["curl.code"] = "\(exchange.curlCode)" }
                switch decision {
                case .delivered: logger.info("delivered", metadata: metadata)
                case .retry(let reason, _): logger.notice("attempt failed, will retry: \(reason)", metadata: metadata)
                case .rejected(let reason): logger.error("rejected by the partner: \(reason)", metadata: metadata)
                case .failed(let reason): logger.error("failed: \(reason)", metadata: metadata)
                }
            },
            waiting: { delivery, seconds in
                progress.waiting(partner: delivery.partner, seconds: seconds)
                logger.info("waiting before the next attempt", metadata: ["run.id": "\(run)", "partner.id": "\(delivery.partner)",
                                                                           "delivery.id": "\(delivery.id)",
                                                                           "seconds": "\(String(format: "%.1f", seconds))"])
            },
            batchRendered: { partner, batch, records in
                progress.rendered(partner: partner, batch: batch, records: records)
                logger.debug("batch rendered", metadata: ["run.id": "\(run)", "partner.id": "\(partner)", "batch": "\(batch)",
                                                          "records": "\(records)"])
            })
    }
}

/// Results filled in by worker threads.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [PartnerOutcome?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ outcome: PartnerOutcome) {
        lock.lock()
        values[index] = outcome
        lock.unlock()
    }

    var all: [PartnerOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return values.compactMap { $0 }
    }
}

/// The part of a partner's run report that only the run knows, kept with it in `run_partners.report`
/// (the rest comes from the deliveries): rejections by reason and what the contract allowed then.
enum StoredPartnerReport {
    static func json(_ outcome: PartnerOutcome, contract: Contract?) -> String {
        var pairs: [(String, JSONValue)] = [
            ("rejected_by_reason", .object(outcome.tally.rejectedByReason.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("recovered", .int(outcome.recovered)),
            ("replaced_characters", .int(outcome.tally.replacedCharacters)),
        ]
        if let contract {
            pairs.append(("allowed", .array(contract.allow.map { allowed in
                .object([("field", .string(allowed.field)), ("forms", .array(allowed.forms.map { .string($0.name) }))])
            })))
        }
        if let action = outcome.rerunAction {
            switch action {
            case .resentSameID(let id): pairs.append(("rerun", .object([("action", .string("resent")), ("delivery", .string(id))])))
            case .superseded(let ids):
                pairs.append(("rerun", .object([("action", .string("superseded")), ("by", .array(ids.map { .string($0) }))])))
            case .nothingLeft: pairs.append(("rerun", .object([("action", .string("nothing-left"))])))
            }
        }
        return JSONValue.object(pairs).rendered()
    }
}
