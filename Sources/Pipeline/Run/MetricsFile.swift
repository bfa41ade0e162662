import ExportCore
import Foundation
import Ledger
import SafeFiles

/// The Prometheus text-format file (node_exporter's textfile-collector convention), rewritten
/// atomically after every run, rerun and prune. Counters come from the ledger's own counters, which
/// never go down (`prune` does not touch them); gauges from the last run and the feed of each partner.
/// Alert on `partner_export_feed_complete == 0`, or on `time() - partner_export_last_success_timestamp_seconds`.
public enum MetricsFile {
    public struct Target: Sendable {
        public let path: String
        /// 0600 by default; 0644 lets a collector running as another user read it (it holds partner ids and counts).
        public let mode: mode_t

        public init(path: String, mode: mode_t) {
            self.path = path
            self.mode = mode
        }
    }

    struct Metric: Sendable {
        let name: String
        let type: String
        let help: String
        let value: @Sendable (PartnerTotals) -> Double?
    }

    static let metrics: [Metric] = [
        Metric(name: "partner_export_feed_complete", type: "gauge",
               help: "1 when every batch of the partner's last feed was acknowledged, 0 while something is owed (absent before its first run).",
               value: { $0.feedComplete.map { $0 ? 1 : 0 } }),
        Metric(name: "partner_export_open_failures", type: "gauge",
               help: "Deliveries the partner is still owed (failed, rejected, held, or left pending by a run that died), not yet sent again or superseded.",
               value: { Double($0.openFailures) }),
        Metric(name: "partner_export_last_success_timestamp_seconds", type: "gauge",
               help: "Unix time when the partner's last successful run finished (0: never).",
               value: { seconds($0.lastSuccessAt) }),
        Metric(name: "partner_export_last_run_timestamp_seconds", type: "gauge",
               help: "Unix time when the partner's last run finished, whatever its outcome (0: never).",
               value: { seconds($0.lastRunFinishedAt) }),
        Metric(name: "partner_export_last_run_success", type: "gauge",
               help: "1 if the partner's last run delivered everything, else 0.", value: { $0.lastRunSucceeded ? 1 : 0 }),
        Metric(name: "partner_export_last_run_duration_seconds", type: "gauge",
               help: "How long the partner's last run took.",
               value: { seconds($0.lastRunFinishedAt) > 0 ? max(0, seconds($0.lastRunFinishedAt) - seconds($0.lastRunStartedAt)) : 0 }),
        Metric(name: "partner_export_last_run_records", type: "gauge",
               help: "Records the partner acknowledged in its last run.", value: { Double($0.lastRunRecords) }),
        Metric(name: "partner_export_records_sent_total", type: "counter",
               help: "Records in deliveries the partner acknowledged.", value: { Double($0.counter(CounterName.recordsSent)) }),
        Metric(name: "partner_export_bytes_sent_total", type: "counter",
               help: "Payload bytes (uncompressed) of deliveries the partner acknowledged.",
               value: { Double($0.counter(CounterName.bytesSent)) }),
        Metric(name: "partner_export_deliveries_failed_total", type: "counter",
               help: "Deliveries that ended failed for a run (attempts exhausted, TLS or set-up problems).",
               value: { Double($0.counter(CounterName.deliveriesFailed)) }),
        Metric(name: "partner_export_deliveries_rejected_total", type: "counter",
               help: "Deliveries the partner rejected with a permanent answer.",
               value: { Double($0.counter(CounterName.deliveriesRejected)) }),
        Metric(name: "partner_export_notices_sent_total", type: "counter",
               help: "Deletion notices the partner acknowledged.", value: { Double($0.counter(CounterName.noticesSent)) }),
        Metric(name: "partner_export_notices_due", type: "gauge",
               help: "Deletion notices due to the partner and not yet acknowledged, as of the last run or rerun that counted them.",
               value: { Double($0.counter(CounterName.noticesDue)) }),
        Metric(name: "partner_export_deletion_guard_holds_total", type: "counter",
               help: "Runs of the partner held by the deletion guard (more notices than max_deletions_percent allows).",
               value: { Double($0.counter(CounterName.deletionGuardHolds)) }),
        Metric(name: "partner_export_partner_paused", type: "gauge",
               help: "1 while the partner is paused (partner-export pause): runs skip it, what it is owed stays owed.",
               value: { $0.paused ? 1 : 0 }),
        Metric(name: "partner_export_partner_wait_until_timestamp_seconds", type: "gauge",
               help: "Unix time until which the partner asked us to wait (a Retry-After beyond the cap; 0: none).",
               value: { seconds($0.waitUntil) }),
        Metric(name: "partner_export_retries_total", type: "counter",
               help: "HTTP attempts that were followed by another attempt of the same delivery.",
               value: { Double($0.counter(CounterName.retries)) }),
    ]

    static func seconds(_ text: String?) -> Double {
        text.flatMap(Timestamps.parse).map { $0.timeIntervalSince1970 } ?? 0
    }

    /// The file's text for the configured partners (and any partner still in the ledger).
    static func render(totals: [String: PartnerTotals], partners: [String]) -> String {
        let names = Set(partners).union(totals.keys.filter { !$0.isEmpty }).sorted()
        var out = ""
        for metric in metrics {
            out += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n"
            for partner in names {
                guard let value = metric.value(totals[partner] ?? PartnerTotals()) else { continue }
                out += "\(metric.name){partner=\"\(escape(partner))\"} \(format(value))\n"
            }
        }
        out += "# HELP partner_export_lock_skips_total Invocations that found another run holding the lock and did nothing.\n"
            + "# TYPE partner_export_lock_skips_total counter\n"
            + "partner_export_lock_skips_total \((totals[""] ?? PartnerTotals()).counter(CounterName.lockSkips))\n"
        // A run that started and has not finished: in progress, or killed (alert when it lasts hours).
        let since = totals[""]?.runningSince
        out += "# HELP partner_export_run_in_progress 1 while a run is marked running in the ledger (a killed run stays 1 until the next run).\n"
            + "# TYPE partner_export_run_in_progress gauge\npartner_export_run_in_progress \(since == nil ? 0 : 1)\n"
            + "# HELP partner_export_run_started_timestamp_seconds Unix time when the run in progress started (0: none).\n"
            + "# TYPE partner_export_run_started_timestamp_seconds gauge\n"
            + "partner_export_run_started_timestamp_seconds \(format(seconds(since)))\n"
        // Errors by partner and stable code (ExportError codes).
        out += "# HELP partner_export_errors_total Failures by partner and error code.\n# TYPE partner_export_errors_total counter\n"
        for partner in names {
            let totals = totals[partner] ?? PartnerTotals()
            for (name, value) in totals.counters.sorted(by: { $0.key < $1.key }) where name.hasPrefix("errors:") {
                out += "partner_export_errors_total{partner=\"\(escape(partner))\",code=\"\(escape(String(name.dropFirst(7))))\"} \(value)\n"
            }
        }
        return out
    }

    private static func escape(_ label: String) -> String {
        label.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
    }

    /// Rewrites the file; a failure is returned (it never changes a run's outcome).
    @discardableResult
    public static func write(ledger: any LedgerStore, partners: [String], to target: Target) -> ExportError? {
        do {
            let text = render(totals: try ledger.totals(), partners: partners)
            let folder = Paths.folder(of: target.path)
            if !folder.isEmpty {
                var info = stat()
                // A folder made for it is as readable as the file (a collector running as another user traverses it).
                if stat(folder, &info) != 0 { try PrivateFolder.create(folder, mode: target.mode & 0o044 != 0 ? 0o755 : 0o700) }
            }
            try OutputFile.write([Array(text.utf8)], to: target.path, mode: target.mode)
            return nil
        } catch {
            return ExportError.wrapping(error).located("the metrics file \(target.path)")
        }
    }
}
