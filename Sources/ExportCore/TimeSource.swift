import Foundation

/// Where a run gets the time and how it waits: the system's in production, a scripted one in tests
/// (the production binary has no way to move its clock).
public struct TimeSource: Sendable {
    public let now: @Sendable () -> Date
    public let sleep: @Sendable (Double) -> Void

    public init(now: @escaping @Sendable () -> Date, sleep: @escaping @Sendable (Double) -> Void) {
        self.now = now
        self.sleep = sleep
    }

    public static let system = TimeSource(now: { Date() }, sleep: { Thread.sleep(forTimeInterval: $0) })
}

/// RFC 3339 times and the ids built from them (UTC, without Foundation's formatters).
public enum Timestamps {
    public static func rfc3339(_ date: Date) -> String { UTCTime.format(date.timeIntervalSince1970) }

    /// RFC 3339 with milliseconds, for start and end times (durations).
    public static func precise(_ date: Date) -> String { UTCTime.format(date.timeIntervalSince1970, milliseconds: true) }

    public static func parse(_ text: String) -> Date? { UTCTime.parse(text).map { Date(timeIntervalSince1970: $0) } }

    /// `20261127T020000Z`.
    public static func compact(_ date: Date) -> String {
        rfc3339(date).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }

    /// A new id: `<prefix>_<time>_<random hex>`, sortable by time.
    public static func identifier(_ prefix: String, at date: Date, randomBytes: Int = 6) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = HexText.of((0..<randomBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return "\(prefix)_\(compact(date))_\(random)"
    }

    /// Seconds from one RFC 3339 time to another, when both parse.
    public static func seconds(from start: String, to end: String?) -> Double? {
        guard let end, let a = parse(start), let b = parse(end) else { return nil }
        return b.timeIntervalSince(a)
    }
}
