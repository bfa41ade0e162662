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
