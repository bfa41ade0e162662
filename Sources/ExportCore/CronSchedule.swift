/// A 5-field cron expression evaluated in UTC: minute, hour, day of month, month, day of week.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists joined by commas; months
/// and weekdays also take English abbreviations (`jan`, `mon`); weekday 0 and 7 are Sunday. As in
/// classic cron, when both day of month and day of week are restricted, a day matching either fires.
public struct CronSchedule: Sendable, Hashable {
    private let minutes: UInt64
    private let hours: UInt64
    private let days: UInt64
    private let months: UInt64
    private let weekdays: UInt64
    private let daysRestricted: Bool
    private let weekdaysRestricted: Bool

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing expression: String) throws {
        let fields = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "a schedule has 5 fields (minute hour day-of-month month day-of-week, UTC); found \(fields.count)")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [:])
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [:])
        days = try Self.field(fields[2], name: "day of month", range: 1...31, names: [:])
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        months = try Self.field(fields[3], name: "month", range: 1...12,
                                names: Dictionary(uniqueKeysWithValues: monthNames.enumerated().map { ($1, $0 + 1) }))
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        var weekdays = try Self.field(fields[4], name: "day of week", range: 0...7,
                                      names: Dictionary(uniqueKeysWithValues: dayNames.enumerated().map { ($1, $0) }))
        if weekdays & (1 << 7) != 0 { weekdays |= 1 }  // 7 is Sunday too
        self.weekdays = weekdays & 0x7F
        daysRestricted = fields[2] != "*"
        weekdaysRestricted = fields[4] != "*"
    }

    /// The problem with `expression`, or nil when it parses.
    public static func problem(in expression: String) -> String? {
        do {
            let schedule = try CronSchedule(parsing: expression)
            guard schedule.canFire else {
                return "'\(expression)' never fires: no month it names has the days of the month it names (and no day of the "
                    + "week widens it), so run --due would never run this partner"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Whether some date matches at all (`0 0 31 2 *` never does). Days of the week, when restricted,
    /// always match some date; days of the month must exist in one of the months (29 February counts).
    public var canFire: Bool {
        if !daysRestricted || weekdaysRestricted { return true }
        let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for month in 1...12 where months & (1 << UInt64(month)) != 0 {
            for day in 1...longest[month - 1] where days & (1 << UInt64(day)) != 0 { return true }
        }
        return false
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String: Int]) throws -> UInt64 {
        var bits: UInt64 = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(description: "\(name) field '\(part)' has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), s > 0 else { throw ParseError(description: "\(name) field '\(part)': the step must be a positive number") }
                step = s
            }
            let lower: Int
            let upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else {
                let bounds = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw ParseError(description: "\(name) field '\(part)' is not a value or a range") }
                func value(_ s: Substring) throws -> Int {
                    if let n = Int(s), range.contains(n) { return n }
                    if let n = names[s.lowercased()] { return n }
                    throw ParseError(description: "\(name) field: '\(s)' is not between \(range.lowerBound) and \(range.upperBound)")
                }
                lower = try value(bounds[0])
                upper = bounds.count == 2 ? try value(bounds[1]) : (pieces.count == 2 ? range.upperBound : lower)
                guard lower <= upper else { throw ParseError(description: "\(name) field '\(part)': the range runs backwards") }
            }
            for v in stride(from: lower, through: upper, by: step) { bits |= 1 << UInt64(v) }
        }
        return bits
    }

    // MARK: - Evaluation

    private func dayMatches(_ date: CivilDate) -> Bool {
        guard months & (1 << UInt64(date.month)) != 0 else { return false }
        let dayOK = days & (1 << UInt64(date.day)) != 0
        let weekdayOK = weekdays & (1 << UInt64(date.weekday)) != 0
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): return dayOK || weekdayOK
        case (true, false): return dayOK
        case (false, true): return weekdayOK
        case (false, false): return true
        }
    }

    /// The latest time this schedule fired at or before `seconds` (Unix time), or nil within 8 years.
    public func latestFire(atOrBefore seconds: Int64) -> Int64? {
        let minute = seconds - ((seconds % 60) + 60) % 60
        var day = minute >= 0 ? minute / 86_400 : (minute - 86_399) / 86_400
        var limitMinute = Int((minute - day * 86_400) / 60)
        for _ in 0..<(366 * 8) {
            if dayMatches(CivilDate(daysSinceEpoch: day)) {
                for m in stride(from: limitMinute, through: 0, by: -1) {
                    let h = m / 60
                    if hours & (1 << UInt64(h)) != 0, minutes & (1 << UInt64(m % 60)) != 0 {
                        return day * 86_400 + Int64(m) * 60
                    }
                }
            }
            day -= 1
            limitMinute = 1439
        }
        return nil
    }

    /// Whether a partner on this schedule is due at `now`: the schedule fired after its last completed
    /// run (or it never ran). A run that did not complete (killed) leaves the partner due.
    public func isDue(lastCompleted: Int64?, now: Int64) -> Bool {
        guard let fired = latestFire(atOrBefore: now) else { return false }
        guard let lastCompleted else { return true }
        return fired > lastCompleted
    }

    /// The first time this schedule fires strictly after `seconds` (Unix time), or nil within 8 years.
    public func nextFire(after seconds: Int64) -> Int64? {
        let start = seconds - ((seconds % 60) + 60) % 60 + 60
        var day = start >= 0 ? start / 86_400 : (start - 86_399) / 86_400
        var firstMinute = Int((start - day * 86_400) / 60)
        for _ in 0..<(366 * 8) {
            if dayMatches(CivilDate(daysSinceEpoch: day)) {
                for m in firstMinute..<1440 where hours & (1 << UInt64(m / 60)) != 0 && minutes & (1 << UInt64(m % 60)) != 0 {
                    return day * 86_400 + Int64(m) * 60
                }
            }
            day += 1
            firstMinute = 0
        }
        return nil
    }
}

/// A proleptic Gregorian date in UTC (Howard Hinnant's `civil_from_days`).
struct CivilDate {
    let year: Int64
    let month: Int
    let day: Int
    /// 0 = Sunday.
    let weekday: Int

    init(daysSinceEpoch z0: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = Int(doy - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        weekday = Int(((z0 % 7) + 7 + 4) % 7)  // 1970-01-01 was a Thursday
    }
}
