import ExportCore
import Foundation
import Testing

@Suite("RFC 3339 times")
struct UTCTimeTests {
    @Test("formatting agrees with Foundation's ISO 8601 formatter across four centuries")
    func formatting() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var state: UInt64 = 42
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let seconds = Double(Int64(state >> 34) - 4_000_000_000)  // about 1843 to 2097
            #expect(UTCTime.format(seconds) == formatter.string(from: Date(timeIntervalSince1970: seconds)))
            #expect(UTCTime.parse(UTCTime.format(seconds)) == seconds)
        }
        #expect(UTCTime.format(1_795_744_800.25, milliseconds: true) == "2026-11-27T02:00:00.250Z")
    }

    @Test("parsing takes offsets and fractions, and refuses what is not RFC 3339")
    func parsing() {
        #expect(UTCTime.parse("2026-11-27T03:00:00+01:00") == 1_795_744_800)
        #expect(UTCTime.parse("2026-11-26T21:00:00-05:00") == 1_795_744_800)
        #expect(UTCTime.parse("2026-11-27T02:00:00.5Z") == 1_795_744_800.5)
        #expect(UTCTime.parse("2000-02-29T00:00:00Z") == 951_782_400)
        for bad in ["", "2026-11-27", "2026-11-27T02:00:00", "2026-13-01T00:00:00Z", "2026-11-27T02:00:00.Z", "2026-11-27T02:00:00Zx",
                    "2026/11/27T02:00:00Z"] {
            #expect(UTCTime.parse(bad) == nil, "\(bad)")
        }
    }
}
