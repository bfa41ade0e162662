/// A span of customer ids: those after `after` (exclusive) up to `through` (inclusive); nil means
/// unbounded. A feed's batches cover consecutive spans, so a batch can be rendered again on its own.
public struct IDRange: Sendable, Hashable, CustomStringConvertible {
    public let after: Int64?
    public let through: Int64?

    public init(after: Int64?, through: Int64?) {
        self.after = after
        self.through = through
    }

    /// Every customer.
    public static let all = IDRange(after: nil, through: nil)

    public func contains(_ id: Int64) -> Bool {
        (after.map { id > $0 } ?? true) && (through.map { id <= $0 } ?? true)
    }

    public var description: String {
        "ids " + (after.map { "after \($0)" } ?? "from the first") + (through.map { " through \($0)" } ?? " to the last")
    }
}
