import CustomerSource
import ExportConfig
import ExportCore
import Ledger

/// The deletion notices due to a partner now, read from the source in one snapshot and merged with
/// what the partner holds: customers no longer eligible, and held customers whose key would change.
/// What a rerun with nothing to send still owes, and what `partner_export_notices_due` says.
enum NoticesDue {
    /// Nil when the partner holds nobody, or its plan cannot be made here (a secret not set).
    static func count(_ partner: Partner, sourcePath: String, model: SourceModel, ledger: any HoldingsLog,
                      environment: [String: String]) throws -> Int? {
        guard try ledger.holdingsCount(partner: partner.id) > 0,
              let plan = try? PreparedPartner.plan(partner, environment: environment) else { return nil }
        let job = try ExportJob(plan: plan, source: try CustomerDatabase(path: sourcePath, model: model), schema: nil)
        return try job.snapshot {
            let scan = try job.guardScan(holdings: ledger)
            return try job.noticesDue(scan.gone, holdings: ledger).values.reduce(0, +) + scan.rekeyed
        }
    }
}
