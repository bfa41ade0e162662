import Foundation

/// What a JSON partner holds after everything it acknowledged: the outcome a user cares about,
/// computed from the bodies the sandbox kept, not from the ledger.
public struct PartnerHoldings {
    /// One acknowledged feed.
    public struct Feed {
        public let key: String
        public let run: String
        public let batch: Int
        public let records: [[String: Any]]
    }

    /// Acknowledged feeds in the order the partner acknowledged them (a key acknowledged twice counts once).
    public let feeds: [Feed]

    /// The key field's value → the latest version of that record the partner holds.
    public func records(by key: String) -> [String: [String: Any]] {
        var result: [String: [String: Any]] = [:]
        for feed in feeds {
            for record in feed.records { if let value = record[key] as? String { result[value] = record } }
        }
        return result
    }

    /// The key field's value → the idempotency keys of the acknowledged deliveries that carried it.
    public func deliveries(by key: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for feed in feeds {
            for record in feed.records { if let value = record[key] as? String { result[value, default: []].insert(feed.key) } }
        }
        return result
    }
}

extension Sandbox {
    /// What the partner at `path` holds (JSON feeds).
    public func holdings(path: String) -> PartnerHoldings {
        var seen: Set<String> = []
        var feeds: [PartnerHoldings.Feed] = []
        for request in requests().sorted(by: { $0.seq < $1.seq }) where request.path == path && request.acknowledged {
            guard let key = request.idempotencyKey, seen.insert(key).inserted, let body = request.body,
                  let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { continue }
            feeds.append(PartnerHoldings.Feed(key: key, run: object["run"] as? String ?? "", batch: object["batch"] as? Int ?? 0,
                                              records: object["records"] as? [[String: Any]] ?? []))
        }
        return PartnerHoldings(feeds: feeds)
    }
}

/// What a partner holds after applying, in the order it acknowledged them, every distinct delivery
/// it received (JSON or XML): records by key, less the customers deletion notices told it to forget.
/// Built from the bodies the sandbox kept, with nothing from the ledger.
public struct PartnerView {
    /// Key → the latest version of the record (fields as text).
    public private(set) var records: [String: [String: String]] = [:]
    /// Every notice received, in order.
    public private(set) var notices: [(key: String, reason: String)] = []
    /// Records received, summed over acknowledged deliveries (a key resent counts again).
    public private(set) var recordsReceived = 0
    /// Idempotency keys of the acknowledged deliveries, in order.
    public private(set) var deliveries: [String] = []

    public init() {}

    mutating func apply(records new: [[String: String]], notices told: [(key: String, reason: String)], key: String, delivery: String) {
        deliveries.append(delivery)
        for record in new {
            recordsReceived += 1
            if let value = record[key] { records[value] = record }
        }
        for notice in told {
            notices.append(notice)
            records[notice.key] = nil
        }
    }
}

extension Sandbox {
    /// What the partner at `path` holds, reading acknowledged requests after `afterSeq` (all by default).
    public func view(path: String, key: String, afterSeq: Int = -1, start: PartnerView = PartnerView()) throws -> PartnerView {
        var view = start
        var seen = Set(start.deliveries)
        for request in requests().sorted(by: { $0.seq < $1.seq }) where request.path == path && request.acknowledged && request.seq > afterSeq {
            guard let id = request.idempotencyKey, seen.insert(id).inserted, let body = request.body else { continue }
            if body.first == UInt8(ascii: "<") {
                let document = try StrictXML(Array(body))
                view.apply(records: document.records.map(\.fields), notices: document.deletions, key: key, delivery: id)
            } else {
                guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { continue }
                let records = (object["records"] as? [[String: Any]] ?? []).map { record in
                    record.compactMapValues { value -> String? in value is NSNull ? nil : "\(value)" }
                }
                guard let deletions = object["deletions"] as? [[String: Any]], object["deletion_count"] as? Int == deletions.count else {
                    throw SandboxError(description: "a JSON feed without a consistent deletions array: \(object.keys.sorted())")
                }
                view.apply(records: records, notices: deletions.map { ($0[key] as? String ?? "", $0["reason"] as? String ?? "") },
                           key: key, delivery: id)
            }
        }
        return view
    }
}
