import Foundation
import GRDB
import Provenance
import Synchronization
import TimeSeries

/// The width of a continuously maintained summary window.
public enum SummaryWidth: Int, Hashable, Sendable, Codable, CaseIterable {
    case hour = 3600
    case day = 86400

    public var micros: Int64 { Int64(rawValue) * 1_000_000 }
}

/// A new version of one window's summary: emitted whenever a batch adds readings to the window — including a
/// record from last Tuesday that arrives today (`late`), which revises Tuesday's hour and day.
public struct WindowRevision: Hashable, Sendable {
    public var series: SeriesKey
    public var width: SummaryWidth
    /// Local wall-clock start of the window (µs since 1970 in the subject's zone).
    public var label: Int64
    public var startMicros: Int64
    public var endMicros: Int64
    /// 1 for the first summary of this window, then 2, 3, … (persisted: a restart continues the count).
    public var version: Int
    /// Clean readings only; doubtful ones are counted in `summary.excludedCount`.
    public var summary: WindowSummary
    /// The window had already ended when the readings that revised it were stored.
    public var late: Bool
}

/// Keeps hourly and daily summaries per series up to date as readings arrive, in each subject's time zone.
///
/// A batch marks the windows it touched as pending (durably, in `window_pending`); a pending window gets its new
/// version once it has been pending for `coalesceMicros`, so a strap notifying every second revises its hour once
/// a minute rather than once a batch, and a late reading still produces a new version later. Pending windows
/// survive a crash and are revised at the next start (`StreamEngine.recover`) or when the engine drains, so the
/// final version of every window reaches the feed. With `coalesceMicros` 0 every batch revises at once.
public final class WindowTracker: Sendable {
    let zones: [String: TimeZone]
    let defaultZone: TimeZone
    /// Test people (the demo's): their windows are made of test data; everyone else's leave it out.
    let testSubjects: Set<String>
    public let coalesceMicros: Int64

    /// Windows revised per batch at most: a minute's worth of due windows is spread over batches (and the daemon's
    /// timer), so no single batch — and no cuff's confirmation waiting in it — pays for all of them.
    public static let flushLimitPerBatch = 64

    /// The pending windows as in `window_pending` (loaded on first use): a batch that touches only windows already
    /// pending writes nothing, instead of a transaction of upserts per batch.
    /// (Keyed by the series' own strings, not a formatted key: a key string a window cost ~1 MiB at a hub's load.)
    private let pendingKeys = Mutex<Set<PendingWindow>?>(nil)

    /// One window of one series: what `window_pending` rows are unique by.
    struct PendingWindow: Hashable {
        var key: SeriesKey
        var width: SummaryWidth
        var label: Int64
    }

    public init(
        zones: [String: TimeZone], defaultZone: TimeZone = .gmt, testSubjects: Set<String> = [],
        coalesceMicros: Int64 = 0
    ) {
        self.zones = zones
        self.testSubjects = testSubjects
        self.defaultZone = defaultZone
        self.coalesceMicros = coalesceMicros
    }

    private func knownPending(_ archive: ReadingArchive) throws -> Set<PendingWindow> {
        if let known = pendingKeys.withLock({ $0 }) { return known }
        let loaded = try archive.queue.read { db in
            Set(
                try PendingWindowRecord.fetchAll(db).compactMap { row -> PendingWindow? in
                    // A row this version cannot parse is dropped by the next flush; it is never matched.
                    guard let key = SeriesKey(parsing: row.series), let width = SummaryWidth(rawValue: row.width)
                    else { return nil }
                    return PendingWindow(key: key, width: width, label: row.label)
                })
        }
        pendingKeys.withLock { $0 = loaded }
        return loaded
    }

    public func zone(for subject: String) -> TimeZone { zones[subject] ?? defaultZone }

    /// The metrics with hourly and daily windows: every measured quantity but a strap's RR intervals and energy counter
    /// (summarised by the RMSSD and not at all).
    static let windowedMetrics = Set(Metric.allCases).subtracting([.rrInterval, .energyExpended])

    static let migration = """
        CREATE TABLE IF NOT EXISTS window_version (
            series TEXT NOT NULL, width INTEGER NOT NULL, label INTEGER NOT NULL, version INTEGER NOT NULL,
            PRIMARY KEY (series, width, label));
        """

    static let pendingMigration = """
        CREATE TABLE window_pending (
            subject TEXT NOT NULL, series TEXT NOT NULL, width INTEGER NOT NULL, label INTEGER NOT NULL,
            start_micros INTEGER NOT NULL, end_micros INTEGER NOT NULL, unit TEXT NOT NULL, since_micros INTEGER NOT NULL,
            PRIMARY KEY (series, width, label));
        """

    /// Marks every window the readings touched pending, then (with `flushDue`) revises the windows that are due.
    func revise(
        _ readings: [Reading], store: TimeSeriesStore, archive: ReadingArchive, nowMicros: Int64, flushDue: Bool = true
    ) throws -> [WindowRevision] {
        typealias Touched = PendingWindow
        var touched: [Touched: (start: Int64, end: Int64)] = [:]
        var units: [SeriesKey: String] = [:]
        var order: [Touched] = []
        // The last window found per series and width: a batch's readings of a series mostly fall in one hour, and a
        // calendar in the subject's zone is built only for a time outside it (not twice per reading).
        // (With the series' unit: the last reading's, one lookup a reading.)
        var lastWindow: [SeriesKey: (windows: [(start: Int64, end: Int64)], unit: String)] = [:]
        for reading in readings {
            guard let subject = reading.subject else { continue }
            let t = reading.time.effectiveMicros
            var device: String?
            // RR intervals and energy expended are inputs to other summaries (RMSSD), not windows of their own.
            for component in reading.components where Self.windowedMetrics.contains(component.metric) {
                if device == nil { device = reading.device.key }
                let key = SeriesKey(subject: subject, device: device ?? "", metric: component.metric.rawValue)
                if let known = lastWindow[key], known.windows.allSatisfy({ $0.start <= t && t < $0.end }) {
                    if known.unit != component.unit { lastWindow[key]?.unit = component.unit }
                    continue
                }
                var windows: [(start: Int64, end: Int64)] = []
                for width in SummaryWidth.allCases {
                    let window = LocalClock(zone(for: subject)).window(containing: t, widthMicros: width.micros)
                    windows.append((window.start, window.end))
                    let entry = Touched(key: key, width: width, label: window.label)
                    if touched[entry] == nil {
                        touched[entry] = (window.start, window.end)
                        order.append(entry)
                    }
                }
                lastWindow[key] = (windows, component.unit)
            }
        }
        for (key, known) in lastWindow { units[key] = known.unit }
        let known = try knownPending(archive)
        order = order.filter { !known.contains($0) }
        guard !order.isEmpty else {
            return flushDue
                ? try flush(
                    store: store, archive: archive, nowMicros: nowMicros, all: false, limit: Self.flushLimitPerBatch)
                : []
        }
        try archive.queue.write { db in
            // A window already pending keeps the time it became pending: it is revised on schedule, not postponed.
            let pend = try db.cachedStatement(
                sql: """
                    INSERT INTO window_pending (subject, series, width, label, start_micros, end_micros, unit, since_micros)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET unit = excluded.unit
                    """)
            for entry in order {
                guard let bounds = touched[entry] else { continue }
                try pend.execute(arguments: [
                    entry.key.subject, entry.key.description, entry.width.rawValue, entry.label, bounds.start,
                    bounds.end,
                    units[entry.key] ?? "", nowMicros,
                ])
            }
        }
        pendingKeys.withLock { keys in
            for entry in order { keys?.insert(entry) }
        }
        return flushDue
            ? try flush(
                store: store, archive: archive, nowMicros: nowMicros, all: false, limit: Self.flushLimitPerBatch) : []
    }

    /// Revises the pending windows that are due (pending for `coalesceMicros`), or all of them: recompute each from
    /// the store, bump its version and log the revision, in one transaction with removing it from the pending list.
    /// `limit`: revise at most this many (the oldest pending first); the rest stay pending for the next call.
    func flush(store: TimeSeriesStore, archive: ReadingArchive, nowMicros: Int64, all: Bool, limit: Int? = nil) throws
        -> [WindowRevision]
    {
        typealias Touched = PendingWindow
        let due = all ? Int64.max : nowMicros - coalesceMicros
        var revisions: [WindowRevision] = []
        var flushed: [PendingWindow] = []
        try archive.queue.write { db in
            var touched: [Touched: (start: Int64, end: Int64)] = [:]
            var units: [SeriesKey: String] = [:]
            var order: [Touched] = []
            for pending in try PendingWindowRecord.fetchAll(
                db,
                sql: "SELECT * FROM window_pending WHERE since_micros <= ? ORDER BY since_micros, rowid LIMIT ?",
                arguments: [due, limit ?? Int.max])
            {
                guard let key = SeriesKey(parsing: pending.series), let width = SummaryWidth(rawValue: pending.width)
                else {
                    // Not a window this version knows: dropped, so it does not hold its place at the head for ever.
                    try pending.delete(db)
                    continue
                }
                let entry = Touched(key: key, width: width, label: pending.label)
                touched[entry] = (pending.startMicros, pending.endMicros)
                units[key] = pending.unit
                order.append(entry)
            }
            guard !order.isEmpty else { return }
            let remove = try db.cachedStatement(
                sql: "DELETE FROM window_pending WHERE series = ? AND width = ? AND label = ?")
            for entry in order {
                try remove.execute(arguments: [entry.key.description, entry.width.rawValue, entry.label])
            }
            flushed = order
            var flushRecorded = false
            for entry in order {
                guard let bounds = touched[entry], let id = store.existingSeries(entry.key) else { continue }
                let query = WindowQuery(
                    series: id, range: bounds.start..<bounds.end, widthMicros: entry.width.micros,
                    timeZone: zone(for: entry.key.subject),
                    excludeFlags: ReadingFlags.leftOutOfSummaries(testSubject: testSubjects.contains(entry.key.subject))
                        .rawValue)
                guard let summary = try store.windows(query).windows.first(where: { $0.labelMicros == entry.label })
                else { continue }
                let unit = units[entry.key] ?? ""
                let (series, seriesUnit) = try SummaryLog.series(entry.key.description, unit: unit, db)
                let hours = SummaryLog.widthHours(entry.width)
                let seconds = SummaryLog.labelSeconds(entry.label)
                let previous = try WindowVersionRecord.version(
                    series: series, widthHours: hours, labelSeconds: seconds, db)
                try WindowVersionRecord(
                    seriesId: series, widthHours: hours, labelSeconds: seconds, version: previous + 1
                )
                .insert(db, onConflict: .replace)
                let stored = SummaryLog.storedBounds(
                    label: entry.label, width: entry.width, start: bounds.start, end: bounds.end)
                var logged = SummaryRevisionRow(
                    seriesId: series, widthHours: hours, labelSeconds: seconds, startMicros: stored.start,
                    endMicros: stored.end, version: previous + 1, late: bounds.end <= nowMicros,
                    unit: unit == seriesUnit ? nil : unit, summary: try SummaryLog.encode(summary, start: bounds.start))
                try logged.insert(db)
                if !flushRecorded, let seq = logged.seq {
                    // The flush's time, once: every revision up to the next flush row was recorded at it.
                    try SummaryFlushRecord(seq: seq, recordedMicros: nowMicros).insert(db)
                    flushRecorded = true
                }
                revisions.append(
                    WindowRevision(
                        series: entry.key, width: entry.width, label: entry.label, startMicros: bounds.start,
                        endMicros: bounds.end,
                        version: previous + 1, summary: summary, late: bounds.end <= nowMicros))
            }
        }
        pendingKeys.withLock { keys in for key in flushed { keys?.remove(key) } }
        return revisions
    }
}
