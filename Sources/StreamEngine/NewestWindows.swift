import Foundation
import GRDB
import Provenance
import TimeSeries

/// A summary series: one (subject, device, metric) with hourly and daily windows. A row of `summary_series`.
struct SummarySeriesRecord: SnakeCaseRecord, MutablePersistableRecord {
    static let databaseTableName = "summary_series"

    var id: Int64?
    var series: String
    var unit: String?

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// The version a window's summary has reached. A row of `window_version`.
struct WindowVersionRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "window_version"

    var seriesId: Int64
    var widthHours: Int
    var labelSeconds: Int64
    var version: Int

    /// The version a window has reached (0: none yet).
    static func version(series: Int64, widthHours: Int, labelSeconds: Int64, _ db: Database) throws -> Int {
        try fetchOne(db, key: ["series_id": series, "width_hours": widthHours, "label_seconds": labelSeconds])?.version
            ?? 0
    }
}

/// A window owed a new revision (the next flush writes it). A row of `window_pending`, unique by series, width and
/// label. Written by `WindowTracker.revise`'s upsert, which keeps the time a window first became pending.
struct PendingWindowRecord: SnakeCaseRecord, PersistableRecord {
    static let databaseTableName = "window_pending"

    var subject: String
    var series: String
    /// Seconds.
    var width: Int
    var label: Int64
    var startMicros: Int64
    var endMicros: Int64
    var unit: String
    /// When it became pending: it is revised once this is older than the coalescing delay.
    var sinceMicros: Int64
}

extension ReadingArchive {
    /// The newest version of each hourly and daily window of `subject` that lies inside `range` (windows in `zone`, the
    /// subject's, as the window tracker has them), with its unit: the version from `window_version` (one more for a
    /// window still pending: the revision it is owed) and the summary from the store, which is what that revision
    /// holds. Its cost follows the question — the series (one row per person, device and metric), an indexed range of
    /// window versions per series of the subject, the store's windows of the period — and never the revision log,
    /// which holds every revision of every person (`gatewayd export` read all of it).
    public func newestWindows(
        subject: String, within range: Range<Int64>, zone: TimeZone, testSubject: Bool, nowMicros: Int64
    ) throws -> [(revision: WindowRevision, unit: String)] {
        guard let store = try sampleStore() else { return [] }
        let excluded = ReadingFlags.leftOutOfSummaries(testSubject: testSubject).rawValue
        // Labels are wall times: a window inside the range has a label within a day and a width of its instants.
        let margin = 2 * LocalClock.microsPerDay
        let labels =
            SummaryLog.labelSeconds(range.lowerBound - margin)...SummaryLog.labelSeconds(range.upperBound + margin)
        let (series, versions, pending) = try queue.read { db in
            let series = try SummarySeriesRecord.fetchAll(db).compactMap { row in
                SeriesKey(parsing: row.series).flatMap { $0.subject == subject ? (row, $0) : nil }
            }
            var versions: [String: Int] = [:]
            for (row, _) in series {
                guard let id = row.id else { continue }
                for version in try WindowVersionRecord.filter(
                    Column("series_id") == id && labels.contains(Column("label_seconds"))
                ).fetchAll(db) {
                    versions["\(row.series)|\(version.widthHours * 3600)|\(version.labelSeconds)"] = version.version
                }
            }
            let pending = try PendingWindowRecord.filter(Column("subject") == subject).fetchAll(db)
            return (series, versions, pending)
        }
        var owed: [String: String] = [:]  // pending window → the unit its readings came in
        for window in pending {
            owed["\(window.series)|\(window.width)|\(SummaryLog.labelSeconds(window.label))"] = window.unit
        }
        // A series whose first windows are still owed their first revisions has no `summary_series` row yet.
        var named = Set(series.map(\.0.series))
        var all = series.map { (name: $0.0.series, unit: $0.0.unit, key: $0.1) }
        for window in pending where named.insert(window.series).inserted {
            if let key = SeriesKey(parsing: window.series) { all.append((window.series, window.unit, key)) }
        }
        var newest: [(revision: WindowRevision, unit: String)] = []
        for (seriesName, seriesUnit, key) in all {
            guard let id = store.existingSeries(key) else { continue }
            for width in SummaryWidth.allCases {
                let query = WindowQuery(
                    series: id, range: range, widthMicros: width.micros, timeZone: zone, excludeFlags: excluded)
                for summary in try store.windows(query).windows
                where summary.startMicros >= range.lowerBound && summary.endMicros <= range.upperBound {
                    let name = "\(seriesName)|\(width.rawValue)|\(SummaryLog.labelSeconds(summary.labelMicros))"
                    let pendingUnit = owed[name]
                    guard
                        let version = versions[name].map({ $0 + (pendingUnit == nil ? 0 : 1) })
                            ?? pendingUnit.map({ _ in 1 })
                    else { continue }
                    newest.append(
                        (
                            WindowRevision(
                                series: key, width: width, label: summary.labelMicros, startMicros: summary.startMicros,
                                endMicros: summary.endMicros, version: version, summary: summary,
                                late: summary.endMicros <= nowMicros),
                            pendingUnit ?? seriesUnit ?? ""
                        ))
                }
            }
        }
        return newest
    }
}
