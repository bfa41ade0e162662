import CustomerSource
import ExportCore
import FeedRendering
import Foundation
import Pipeline
import TestSupport

let testKey = Array("pipeline-test-pseudonym-key".utf8)

/// A partner built in code: `fields` as (output name, column, form).
func makePartner(_ id: String = "p", format: FeedFormat = .json, consent: [String] = ["partner-offers"],
                 filters: [Filter] = [], fields: [MappedField], batch: BatchLimits = .default, xsd: String? = nil,
                 namespace: String? = nil) -> Partner {
    var allow: [String: [Form]] = [:]
    for field in fields where !(allow[field.from]?.contains(field.form) ?? false) { allow[field.from, default: []].append(field.form) }
    let contract = Contract(id: id, name: id.uppercased(), purpose: "testing", consent: consent,
                            allow: allow.map { AllowedField(field: $0.key, forms: $0.value) }.sorted { $0.field < $1.field },
                            filters: filters, format: format, xsd: xsd,
                            delivery: DeliverySettings(url: "https://example.test/", pseudonymKeyEnv: "KEY", batch: batch),
                            schedule: nil)
    return Partner(contract: contract, mapping: Mapping(partner: id, root: "feed", record: "customer", namespace: namespace,
                                                        fields: fields))
}

/// Every exportable column in clear, under its own name.
let everyColumnInClear: [MappedField] = Fixtures.hostileColumns.map { MappedField(name: $0, from: $0) } + [
    MappedField(name: "services", from: "services"), MappedField(name: "created_at", from: "created_at"),
    MappedField(name: "updated_at", from: "updated_at"),
]

func job(_ partner: Partner, _ database: String, schema: XSDSchema? = nil, model: SourceModel = .canonical) throws
    -> (ExportJob, CustomerDatabase) {
    let source = try CustomerDatabase(path: database, model: model)
    return (try ExportJob(plan: try ExportPlan(partner: partner, pseudonymKey: testKey), source: source, schema: schema), source)
}

/// Runs a whole export in batches and collects them.
func batches(_ partner: Partner, _ database: String, schema: XSDSchema? = nil, model: SourceModel = .canonical) throws
    -> ([FinishedBatch], ExportTally) {
    let (job, _) = try job(partner, database, schema: schema, model: model)
    var result: [FinishedBatch] = []
    let tally = try job.snapshot {
        try job.runBatches(runID: "run_test", generatedAt: "2026-11-27T02:00:00Z", consent: true,
                           deliveryID: { "dlv_\($0)" }) { result.append($0) }
    }
    return (result, tally)
}

/// The whole preview of `partner` from `database` (read through `model`): its counts and the `--out` document.
func previewed(_ partner: Partner, _ database: String, model: SourceModel = .canonical, in folder: URL) throws
    -> (counts: EligibilityCounts, document: [UInt8]) {
    let (job, _) = try job(partner, database, model: model)
    let out = folder.appendingPathComponent("preview-\(UUID().uuidString)").path
    let report = try Preview(job: job).run(samples: 0, out: out, generatedAt: "2026-11-27T02:00:00Z")
    return (report.counts, Array(try Data(contentsOf: URL(fileURLWithPath: out))))
}
