import Testing
import TimeSeries

/// `LocalDate` (module CivilDate), the one civil calendar: the store's local days, device wall clocks and the API's
/// `date` values all count days with it.
@Suite struct LocalDateTests {
    @Test func everyDayRoundTripsThroughItsYearMonthAndDay() throws {
        for days in stride(from: -800_000, through: 800_000, by: 997) {
            let date = LocalDate(daysSince1970: days)
            #expect(LocalDate(year: date.year, month: date.month, day: date.day) == date, "\(days)")
            #expect(LocalDate(date.description) == date || date.year < 0 || date.year > 9999, "\(date)")
        }
        #expect(LocalDate("1970-01-01")?.daysSince1970 == 0)
        #expect(LocalDate("2000-03-01")?.daysSince1970 == 11_017)
    }

    @Test func aDateThatIsNotOneIsRefusedNotRolledOver() {
        #expect(LocalDate(year: 2026, month: 2, day: 29) == nil && LocalDate(year: 2028, month: 2, day: 29) != nil)
        #expect(LocalDate(year: 2100, month: 2, day: 29) == nil && LocalDate(year: 2000, month: 2, day: 29) != nil)
        #expect(LocalDate(year: 2026, month: 4, day: 31) == nil && LocalDate("2026-13-01") == nil)
        #expect(LocalDate(year: 2026, month: 0, day: 1) == nil && LocalDate(year: 2026, month: 1, day: 0) == nil)
    }
}
