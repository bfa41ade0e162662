import ExportCore
import Testing

@Suite("Cron schedules (UTC)")
struct CronScheduleTests {
    /// 2026-11-27T05:00:00Z, a Friday.
    let friday: Int64 = 1_795_755_600

    @Test("valid expressions parse", arguments: ["0 2 * * *", "*/15 * * * *", "30 3 * * 1", "0 0 1 jan *", "0 9-17/2 * * mon-fri",
                                                  "5,35 * 1,15 * 7"])
    func valid(_ expression: String) {
        #expect(CronSchedule.problem(in: expression) == nil)
    }

    @Test("invalid expressions name the problem", arguments: ["", "0 2 * *", "60 * * * *", "* 24 * * *", "0 0 0 * *", "0 0 * 13 *",
                                                               "*/0 * * * *", "5-1 * * * *", "a * * * *", "0 2 * * * *"])
    func invalid(_ expression: String) {
        #expect(CronSchedule.problem(in: expression) != nil)
    }

    @Test("next and latest fire times")
    func fireTimes() throws {
        let daily = try CronSchedule(parsing: "0 2 * * *")
        #expect(daily.nextFire(after: friday) == friday + 86_400 - 3 * 3600)  // Saturday 02:00
        #expect(daily.latestFire(atOrBefore: friday) == friday - 3 * 3600)    // Friday 02:00
        let monday = try CronSchedule(parsing: "30 3 * * 1")
        // Next Monday is 2026-11-30, 03:30.
        #expect(monday.nextFire(after: friday) == friday + 3 * 86_400 - 5 * 3600 + 3 * 3600 + 1800)
        let quarter = try CronSchedule(parsing: "*/15 * * * *")
        #expect(quarter.latestFire(atOrBefore: friday + 14 * 60 + 59) == friday)
        #expect(quarter.nextFire(after: friday) == friday + 15 * 60)
        // Either restricted day field fires (classic cron).
        let either = try CronSchedule(parsing: "0 0 1 * fri")
        #expect(either.latestFire(atOrBefore: friday) == friday - 5 * 3600)
    }
}
