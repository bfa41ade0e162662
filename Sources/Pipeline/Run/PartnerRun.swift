import Delivery
import ExportCore
import FeedRendering
import Foundation
import Ledger

/// One partner's part of a run, top to bottom. Each stage is a named type one click away:
///
/// 1. **recover** what an earlier run left: a delivery that may have reached the partner is resent
///    under its own id (``Sender``); one that never left is held, owed like any other;
/// 2. **plan** what to render (``FeedPlan``): a new feed of every eligible record (`run`), or what the
///    partner's feed still owes (`rerun`);
/// 3. **select → minimise → render → batch** on the builder's threads (``FeedBuilder``: consent and
///    filters in SQL, only the mapping's columns, records in id order, XSD checked), each batch's
///    payload stored and the delivery recorded, handed over in order through a bounded channel;
/// 4. **deliver** each batch with the retry policy and **record** it (``Sender``: every attempt
///    before it leaves, `delivered` with its disclosures only after a 2xx); after the first batch that
///    does not get through, the rest are `held`: still owed, listed by `deliveries --failed`;
/// 5. **settle**: the feed is complete when every batch of it was acknowledged.
struct PartnerRun {
    let partner: PreparedPartner
    let mode: RunMode
    let context: RunContext
    /// This thread's own ledger connection.
    let ledger: any LedgerStore
    /// The item this worker took: the partner's whole feed (shard 1 of 1) or one shard of it, held
    /// until it ends (or lost, when another worker takes it over).
    let work: ShardWork

    func run() -> PartnerOutcome {
        var outcome = PartnerOutcome(partner: partner.partner, startedAt: Timestamps.precise(context.time.now()))
        do {
            let sender = Sender(transport: partner.transport, policy: context.policy.with(maxAttempts: partner.maxAttempts,
                                                                                         cap: partner.retryAfterCap),
                                ledger: ledger, runID: context.runID, time: context.time, random: context.random,
                                events: context.events, pace: partner.pace, checkpoint: context.checkpoint)

            // 1. Recover (the first shard's worker recovers what earlier runs left).
            for delivery in try work.shard.index == 1 ? Recovery(ledger: ledger, runID: context.runID).inDoubt(of: partner.id) : [] {
                outcome.recovered += 1
                let stored: FeedBytes
                do {
                    stored = try context.payloads.load(delivery)
                } catch {
                    // Nothing is sent; the delivery stays in doubt, its file kept as evidence.
                    try ledger.fail(delivery, error: .wrapping(error))
                    throw error
                }
                let result = sender.send(delivery, feed: stored)
                outcome.count(result, action: .resentInDoubt)
                guard result.delivered else {
                    return try settle(outcome, stoppedBy: result,
                                      because: "delivery \(delivery.id), left in doubt by run \(delivery.runID), could not be resent")
                }
            }

            if work.shard.index == 1 {
                // What earlier runs left is settled: the partner's other shards may start.
                try work.hold.markRecovered()
            } else if try !work.hold.partnerRecovered() {
                throw ExportError.inDoubt("the partner's first shard could not resend what an earlier run left in doubt, so "
                                          + "this shard sent nothing; 'partner-export rerun --failed' completes the feed")
            }

            // 2. Plan: a run renders its shard of a new feed (or what an earlier holder of it left, sent
            //    first); a rerun completes the partner's newest feed.
            var stop: Sender.Result?
            let planned: FeedPlan?
            switch mode {
            case .run:
                let (plan, stopped) = try resume(work, sender: sender, outcome: &outcome)
                planned = plan
                stop = stopped
            case .complete:
                planned = try plan()
            }
            guard let plan = planned else {
                outcome.feed = try ledger.latestFeed(partner: partner.id)
                outcome.notes.append("its feed is complete: nothing is owed")
                return try settle(outcome, stoppedBy: nil)
            }
            if plan.isNew { try ledger.startFeed(plan.feed) }
            outcome.feed = plan.feed
            outcome.feedIsNew = plan.isNew
            outcome.feedReason = plan.reason

            // 3. Select, minimise, render and batch, on the builder's threads.
            // The deletion guard: while the partner holds customers, nothing leaves before the builder has
            // counted the notices due (in the render's snapshot). A snapshot feed counts first and its batches
            // leave as they are rendered; a changes feed's batches wait for the count at the render's end (in
            // memory up to a budget, reloaded from their verified payloads beyond it). When the guard trips,
            // every batch is held.
            let holds = try ledger.holdingsCount(partner: partner.id, range: plan.coverage)
            let guarded = holds > 0 && !context.allowDeletions
            // A run's feed is rendered once every shard of it is: the last shard to get there marks it.
            var rendered: (@Sendable (any LedgerStore, Int) throws -> [DeliveryRecord])?
            if mode == .run {
                let feedID = plan.feed.id
                let time = context.time
                let hold = work.hold
                rendered = { ledger, batches in
                    guard let all = try hold.markRendered() else { throw hold.lostError() }
                    return all ? try ledger.finishRender(feed: feedID, batches: batches, at: Timestamps.rfc3339(time.now())) : []
                }
            }
            let builder = FeedBuilder(plan: plan, export: partner.export, schema: partner.schema, sourcePath: context.sourcePath, sourceModel: context.sourceModel,
                                      ledger: ledger, payloads: context.payloads, runID: context.runID,
                                      generatedAt: context.time.now(), time: context.time, events: context.events,
                                      guardSettings: guarded ? (holds, partner.partner.contract.maxDeletionsPercent) : nil,
                                      rendered: rendered)
            let batches = builder.start()

            // 4. Deliver and record, in order; after the first batch that does not get through, hold the rest.
            var tripped: DeletionGuard?
            var waiting = guarded ? WaitingBatches() : nil
            /// A pause that came while the run was at work: the batches from there on are held.
            var pausedBy: ExportError?
            /// Why a batch is held instead of sent, if it is: the guard tripped, the partner was paused, or
            /// an earlier batch did not get through.
            func holdReason() -> String? {
                if let pausedBy { return "not sent: \(pausedBy.message)" }
                if let tripped {
                    return "held by the deletion guard: \(tripped.notices) deletion notices for \(tripped.holds) customers held "
                        + "(more than \(tripped.limit)" + (tripped.keyChanged ? "; the key changed" : "") + "); send with --allow-deletions"
                }
                return stop.map { "not sent: batch \($0.delivery.batch) (\($0.delivery.id)) was not delivered; owed until a rerun" }
            }
            func deliver(_ delivery: DeliveryRecord, _ box: FeedBox?, _ action: FeedBuilder.ReportAction) throws {
                // Every worker sees a pause before its next batch (the batches in flight settle).
                if pausedBy == nil && tripped == nil && stop == nil { pausedBy = try standing(includingWait: false) }
                if let reason = holdReason() {
                    if let box { builder.giveBack(box) }
                    try ledger.hold(delivery, reason: reason,
                                    code: pausedBy != nil ? "partner.paused" : tripped == nil ? nil : "deletions.guard")
                    outcome.noteHeld(delivery)
                    return
                }
                let feed = try box ?? FeedBox(try context.payloads.load(delivery))
                let result = sender.send(delivery, feed: feed.bytes, contents: feed.contents)
                builder.giveBack(feed)
                outcome.count(result, action: action == .resentSameID ? .resentSameID : .sent)
                if result.status == .pending {
                    throw result.error ?? ExportError.ledger("the ledger failed while delivery \(delivery.id) was sent")
                }
                if !result.delivered { stop = result }
            }
            var summary = FeedBuilder.Summary()
            receiving: while true {
                switch batches.receive() {
                case .item(.guardCount(let count)):
                    if count.tripped { tripped = count }
                    do {
                        try waiting.take()?.send(deliver)
                    } catch {
                        batches.cancel()
                        _ = batches.waitForEnd()
                        throw error
                    }
                case .item(.send(let delivery, let feed, let action, let replaced)):
                    if let replaced { outcome.noteSuperseded(replaced, by: [delivery.id], action: .replaced) }
                    if waiting != nil {
                        waiting?.keep(delivery, feed, action, builder: builder)
                        continue receiving
                    }
                    do {
                        try deliver(delivery, feed, action)
                    } catch {
                        batches.cancel()
                        _ = batches.waitForEnd()
                        throw error
                    }
                case .item(.nothingLeft(let owed)):
                    outcome.noteSuperseded(owed, by: [], action: .nothingLeft)
                case .item(.noticesReplaced(let owed, let by)):
                    outcome.noteSuperseded(owed, by: by.map { [$0] } ?? [], action: by == nil ? .nothingLeft : .replaced)
                case .end(.success(let finished)):
                    summary = finished
                    outcome.tally = summary.tally
                    outcome.notes += summary.notes
                    outcome.alerts += summary.alerts
                    for old in summary.supersededOlder { outcome.noteSuperseded(old, by: [], action: .supersededByFeed) }
                    break receiving
                case .end(.failure(let error)):
                    throw error
                }
            }
            // No count came (a rerun that renders no notices): what waited goes now.
            try waiting.take()?.send(deliver)
            if let tripped = summary.guardTripped {
                return try holdForDeletions(tripped, outcome: outcome)
            }
            if let pausedBy {
                outcome.status = .paused
                outcome.error = pausedBy.located("partner \(partner.id)")
            }
            // 5. Settle.
            return try settle(outcome, stoppedBy: stop)
        } catch {
            var failed = outcome
            failed.error = ExportError.wrapping(error).located("partner \(partner.id)")
            failed.status = .error
            return (try? settle(failed, stoppedBy: nil)) ?? failed
        }
    }

    /// The deletion guard tripped: every batch of the feed is held (owed, nothing sent) and the
    /// partner's part ends `held`, saying how many notices, of how many customers held, and how to proceed.
    private func holdForDeletions(_ count: DeletionGuard, outcome: PartnerOutcome) throws -> PartnerOutcome {
        var held = outcome
        let message = "held by the deletion guard: " + count.message(partner: partner.id,
                                                                     pseudonymKeyEnv: partner.partner.contract.delivery.pseudonymKeyEnv,
                                                                     action: "Nothing was sent.")
        try ledger.add(1, to: CounterName.deletionGuardHolds, partner: partner.id)
        held.status = .held
        held.error = ExportError.deletionGuard(message)
        return try settle(held, stoppedBy: nil)
    }

    /// The longest `Retry-After` remembered: a week.
    static let longestRememberedWait = 7 * 86_400

    /// Whether the partner may not be sent to now: paused (``ExportError/partnerPaused(_:)``) or, when
    /// `includingWait`, waiting until the time it asked for (``ExportError/partnerWaiting(_:)``).
    private func standing(includingWait: Bool) throws -> ExportError? {
        try Self.standing(of: partner.id, ledger: ledger, at: context.time.now(), includingWait: includingWait)
    }

    /// ``standing(includingWait:)`` for any partner: checked before a partner's part is even prepared
    /// (its secrets and files may be what is being changed while it is paused).
    static func standing(of partner: String, ledger: any LedgerStore, at now: Date, includingWait: Bool) throws -> ExportError? {
        guard let control = try ledger.partnerControl(partner) else { return nil }
        if let sentence = control.pauseSentence {
            return .partnerPaused(sentence + "; nothing more is sent and what it is owed stays owed; 'partner-export resume "
                                  + "\(partner)' lets it run again")
        }
        if includingWait, control.waiting(at: Timestamps.rfc3339(now)), let until = control.waitUntil {
            return .partnerWaiting("the partner asked us to wait until \(until) (\(control.waitReason ?? "Retry-After")); nothing "
                                   + "was sent, and the first run after that sends what it is owed")
        }
        return nil
    }

    /// A shard's plan: a fresh render of its range, or — taken over from a worker that died or lost
    /// its lease — what that worker left. Its batches that may have left (an attempt recorded) go out
    /// again first, in order, under their own ids and bytes (the partner deduplicates on the id); the
    /// ones it rendered but never tried are superseded and rendered again with the rest (so that they
    /// pass the deletion guard, which the earlier holder may not have counted yet); then the shard's
    /// customers after the last batch that may have left. A batch of the shard that failed or was
    /// held stops the rest, as it would have in one run (the result that stopped them comes back).
    private func resume(_ work: ShardWork, sender: Sender, outcome: inout PartnerOutcome) throws -> (FeedPlan?, Sender.Result?) {
        let now = Timestamps.precise(context.time.now())
        let fresh = FeedPlan.newFeed(partner: partner.id, run: context.runID, shape: partner.export.shape, at: now, shard: work.shard)
        guard let feed = try ledger.feed(fresh.feed.id) else { return (fresh, nil) }
        var recorded = try ledger.deliveries(DeliveryQuery(partner: partner.id, feed: feed.id)).filter(work.shard.owns)
            .sorted { $0.batch < $1.batch }
        guard !recorded.isEmpty || work.rendered else { return (fresh, nil) }
        outcome.notes.append("shard \(work.shard.index) of \(work.shard.count) taken over: \(recorded.count) batch(es) recorded by "
                             + "an earlier worker")
        // Never tried: rendered again below, under today's guard.
        let untried = recorded.filter { $0.status == .pending && $0.attempts == 0 && !$0.inDoubt }
        for delivery in untried {
            let reason = "rendered again by run \(context.runID) after a takeover of its shard"
            if try ledger.supersede(delivery, by: nil, reason: reason, at: Timestamps.rfc3339(context.time.now())) {
                context.payloads.discard(delivery)
                outcome.noteSuperseded(delivery, by: [], action: .renderedAgainAfterTakeover)
            }
        }
        let superseded = Set(untried.map(\.id))
        recorded = recorded.filter { !superseded.contains($0.id) }
        var stop: Sender.Result?
        for delivery in recorded where delivery.isOwed {
            if stop == nil, delivery.status != .pending {
                // An earlier holder's batch that did not get through: what comes after it is held, as in one run.
                stop = Sender.Result(delivery: delivery, status: delivery.status, attempts: 0,
                                     error: ExportError.deliveryExhausted("delivery \(delivery.id) of this shard was not delivered"),
                                     inDoubt: false)
                continue
            }
            if let stop {
                if delivery.status == .pending {
                    try ledger.hold(delivery, reason: "not sent: batch \(stop.delivery.batch) (\(stop.delivery.id)) was not "
                                    + "delivered; owed until a rerun")
                    outcome.noteHeld(delivery)
                }
                continue
            }
            var delivery = delivery
            if !delivery.inDoubt {
                try ledger.markInDoubt(delivery)
                delivery = try ledger.delivery(delivery.id) ?? delivery
            }
            let result = sender.send(delivery, feed: try context.payloads.load(delivery))
            outcome.count(result, action: .resentInDoubt)
            outcome.recovered += 1
            if result.status == .pending {
                throw result.error ?? ExportError.ledger("the ledger failed while delivery \(delivery.id) was sent")
            }
            if !result.delivered { stop = result }
        }
        // Rendered to its end only if nothing of it had to be rendered again; numbers go on after every one recorded.
        return (FeedPlan.resumption(of: feed, shard: work.shard, recorded: recorded, rendered: work.rendered && untried.isEmpty,
                                    highest: (recorded + untried).map(\.batch).max()), stop)
    }

    /// What a `rerun` renders: the completion of the partner's newest feed (or a new one when that
    /// cannot be done in place); nil when it is complete.
    private func plan() throws -> FeedPlan? {
        let now = Timestamps.precise(context.time.now())
        let latest = try ledger.latestFeed(partner: partner.id)
        let deliveries = try latest.map { try ledger.deliveries(DeliveryQuery(partner: partner.id, feed: $0.id)) } ?? []
        return .completion(of: latest, deliveries: deliveries, partner: partner.id, run: context.runID,
                           shape: partner.export.shape, at: now)
    }

    /// Whether the feed is complete now, what is still owed, and how the partner's part ended.
    private func settle(_ outcome: PartnerOutcome, stoppedBy stop: Sender.Result?, because: String? = nil) throws -> PartnerOutcome {
        var settled = outcome
        let now = Timestamps.rfc3339(context.time.now())
        if let feed = try settled.feed ?? ledger.latestFeed(partner: partner.id) {
            settled.feed = try ledger.feed(feed.id) ?? feed
            settled.feedComplete = try ledger.settleFeed(feed.id, by: context.runID, at: now)
        }
        settled.owedAfter = try ledger.owed(partner: partner.id).count
        if settled.owedAfter > 0 { settled.feedComplete = false }
        if settled.status == .error || settled.status == .held || settled.status?.skipped == true { return settled }
        if let stop, stop.error?.code == "delivery.retry_after_too_long", let asked = stop.retryAfter {
            // Remembered for every later run (and worker): the partner is skipped until then — a week at most,
            // whatever it asked (a partner cannot switch itself off for good, nor overflow a date).
            let seconds = min(max(asked, 0), Self.longestRememberedWait)
            let until = Timestamps.rfc3339(context.time.now().addingTimeInterval(TimeInterval(seconds)))
            try ledger.wait(partner: partner.id, until: until,
                            reason: "HTTP \(stop.lastStatus.map(String.init) ?? "429") with Retry-After: \(seconds)", at: now)
            settled.notes.append("the partner asked us to wait until \(until) (Retry-After: \(seconds) s); runs skip it until then, "
                                 + "and the first run after that sends what it is owed")
        }
        if let stop {
            settled.status = stop.status == .rejected ? .rejected : .failed
            let error = stop.error ?? .deliveryExhausted("delivery \(stop.delivery.id) was not delivered")
            settled.error = error.located(because ?? "delivery \(stop.delivery.id) (batch \(stop.delivery.batch))")
            if let hint = hint(for: stop) { settled.notes.append(hint) }
        } else {
            settled.status = settled.delivered > 0 ? .delivered : .nothingToSend
        }
        return settled
    }
}

extension PartnerRun {
    /// What to do about the usual causes, in the partner's own terms (the variable behind a 401, the
    /// wait a 429 asked for). Names only, never a value.
    func hint(for stop: Sender.Result) -> String? {
        switch stop.lastStatus {
        case 401?, 403?:
            let source = partner.partner.contract.delivery.auth?.secretDescription ?? "the credentials (the contract names none)"
            return "HTTP \(stop.lastStatus ?? 401): the partner did not accept the credentials: check \(source) in the "
                + "scheduler's environment (was it rotated?), then 'partner-export rerun --failed --partner \(partner.id)'"
        case 429?, 503?:
            guard let wait = stop.retryAfter, stop.error?.code != "delivery.retry_after_too_long" else { return nil }
            return "HTTP \(stop.lastStatus ?? 429): the partner asked to wait \(wait) s (Retry-After); rerun after that: "
                + "'partner-export rerun --failed --partner \(partner.id)'"
        default:
            return nil
        }
    }
}

/// The item a worker took: which shard of the partner's feed (shard 1 of 1: the whole feed), whether
/// an earlier holder of it rendered it to its end (a takeover), and the hold it is worked under.
struct ShardWork: Sendable {
    let shard: Shard
    let rendered: Bool
    let hold: any WorkHold
}

/// Whether a partner's part renders a new feed or completes the one it has.
enum RunMode: Sendable {
    case run
    case complete
}

/// Finds what an earlier run left pending: a delivery with an attempt on record may have reached the
/// partner (in doubt: resent under its own id); one without never left (held: owed).
struct Recovery {
    let ledger: any LedgerStore
    let runID: String

    /// The partner's deliveries in doubt, oldest first, after settling the pending ones. Never this
    /// run's own: in a shared run, other workers are sending those right now.
    func inDoubt(of partner: String) throws -> [DeliveryRecord] {
        for delivery in try ledger.owed(partner: partner) where delivery.status == .pending && !delivery.inDoubt
            && delivery.runID != runID {
            if delivery.attempts > 0 {
                try ledger.markInDoubt(delivery)
            } else {
                try ledger.hold(delivery, reason: "not sent: run \(delivery.runID) stopped before it; owed until a rerun")
            }
        }
        return try ledger.owed(partner: partner).filter { $0.inDoubt && $0.runID != runID }
    }
}

/// Batches that wait for the deletion guard's count: the first ones in memory (up to ``budget``
/// bytes), the rest given back and reloaded from their stored, verified payloads when sent.
struct WaitingBatches {
    static let budget = 8 << 20

    private var items: [(DeliveryRecord, FeedBox?, FeedBuilder.ReportAction)] = []
    private var bytes = 0

    mutating func keep(_ delivery: DeliveryRecord, _ feed: FeedBox, _ action: FeedBuilder.ReportAction, builder: FeedBuilder) {
        let size = feed.bytes.count
        if bytes + size <= Self.budget {
            bytes += size
            items.append((delivery, feed, action))
        } else {
            builder.giveBack(feed)
            items.append((delivery, nil, action))
        }
    }

    /// Hands each waiting batch, in order, to `deliver` (which holds it when the guard tripped).
    func send(_ deliver: (DeliveryRecord, FeedBox?, FeedBuilder.ReportAction) throws -> Void) throws {
        for (delivery, box, action) in items { try deliver(delivery, box, action) }
    }
}
