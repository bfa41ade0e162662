import ExportConfig
import Foundation
import Ledger
import Pipeline

/// The Prometheus text-format file (node_exporter's textfile-collector convention), rewritten
/// atomically after every run, rerun and prune: enough to alert on "partner X has not succeeded in
/// 26 hours" (`time() - partner_export_last_success_timestamp_seconds > 26 * 3600`).
enum MetricsFile {
    struct Metric: Sendable {
        let name: String
        let type: String
        let help: String
        let value: @Sendable (PartnerTotals) -> Double
    }

    static let metrics: [Metric] = [
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
               help: "Records rendered for the partner in its last run.", value: { Double($0.lastRunRecords) }),
        Metric(name: "partner_export_records_sent_total", type: "counter",
               help: "Records in deliveries the partner acknowledged (as far back as the ledger goes).",
               value: { Double($0.recordsSent) }),
        Metric(name: "partner_export_bytes_sent_total", type: "counter",
               help: "Payload bytes of deliveries the partner acknowledged.", value: { Double($0.bytesSent) }),
        Metric(name: "partner_export_deliveries_failed_total", type: "counter",
               help: "Deliveries that failed (retries exhausted, TLS or set-up problems).", value: { Double($0.deliveriesFailed) }),
        Metric(name: "partner_export_deliveries_rejected_total", type: "counter",
               help: "Deliveries the partner rejected with a permanent answer.", value: { Double($0.deliveriesRejected) }),
        Metric(name: "partner_export_retries_total", type: "counter",
               help: "HTTP attempts that were retried.", value: { Double($0.retries) }),
        Metric(name: "partner_export_open_failures", type: "gauge",
               help: "Failed or rejected deliveries not yet rerun or superseded.", value: { Double($0.openFailures) }),
    ]

    static func seconds(_ text: String?) -> Double {
        text.flatMap(Clock.parse).map { $0.timeIntervalSince1970 } ?? 0
    }

    /// The file's text for the configured partners (and any partner still in the ledger).
    static func render(totals: [String: PartnerTotals], partners: [String]) -> String {
        let names = Set(partners).union(totals.keys).sorted()
        var out = ""
        for metric in metrics {
            out += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.type)\n"
            for partner in names {
                let value = metric.value(totals[partner] ?? PartnerTotals())
                out += "\(metric.name){partner=\"\(escape(partner))\"} \(format(value))\n"
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

    /// Writes the file atomically (temporary file, fsync, rename).
    static func write(ledger: Ledger, configuration: Configuration?, to path: String, mode: Int) throws {
        let text = render(totals: try ledger.partnerTotals(), partners: configuration?.partners.map(\.id) ?? [])
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try Folders.create(folder) }
        let temporary = path + ".partial"
        let fd = open(temporary, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw CommandFailure("cannot write the metrics file \(temporary): \(String(cString: strerror(errno)))", exitCode: 1) }
        fchmod(fd, mode_t(mode))
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CommandFailure("cannot write the metrics file \(path)", exitCode: 1)
        }
    }
}
