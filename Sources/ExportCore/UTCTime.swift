/// RFC 3339 times in UTC, formatted and parsed without Foundation's ICU-backed formatters (which
/// load several MiB of locale data into a process that only ever needs UTC).
public enum UTCTime {
    /// `2026-11-27T02:00:00Z`, or with `milliseconds`, `2026-11-27T02:00:00.123Z`.
    public static func format(_ seconds: Double, milliseconds: Bool = false) -> String {
        var whole = Int64(seconds.rounded(.down))
        var millis = Int64(((seconds - Double(whole)) * 1000).rounded())
        if millis >= 1000 {
            whole += 1
            millis -= 1000
        }
        let days = whole >= 0 ? whole / 86_400 : (whole - 86_399) / 86_400
        let rest = Int(whole - days * 86_400)
        let date = CivilDate(daysSinceEpoch: days)
        func pad(_ n: Int64, _ width: Int) -> String {
            let digits = String(n)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(date.year, 4))-\(pad(Int64(date.month), 2))-\(pad(Int64(date.day), 2))T"
            + "\(pad(Int64(rest / 3600), 2)):\(pad(Int64(rest / 60 % 60), 2)):\(pad(Int64(rest % 60), 2))"
        if milliseconds { text += ".\(pad(millis, 3))" }
        return text + "Z"
    }

    /// Seconds since the Unix epoch of an RFC 3339 time (`Z` or a numeric offset, optional fraction).
    public static func parse(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var n = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            return n
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116 || b[10] == 32, b[13] == 58, b[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
              let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var i = 19
        var fraction = 0.0
        if b[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45, let oh = number(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = number(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // days_from_civil (Howard Hinnant)
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Double(days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)) + fraction
    }
}

/// Lower-case hex of bytes, for digests shown or stored as text.
public enum HexText {
    public static func of<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 { Hex.string(bytes) }
}
