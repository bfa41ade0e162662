/// How many rows a listing shows: a table stops at a default and says how many it left out; `--json`
/// returns every row unless `--limit` was given (docs/design.md, "Listings").
struct ListingLimit {
    let explicit: Int?
    let tableDefault: Int

    /// The rows to fetch: nil for every row.
    func rows(json: Bool) -> Int? { explicit ?? (json ? nil : tableDefault) }

    /// The sentence under a table that stopped early, or nil.
    func note(shown: Int, total: Int, noun: String, seeAll: String) -> String? {
        guard total > shown else { return nil }
        return "… \(Terminal.count(total - shown)) more \(noun) not shown (\(Terminal.count(total)) in all); "
            + "\(seeAll) --limit \(total) shows them, --json lists every one."
    }
}
