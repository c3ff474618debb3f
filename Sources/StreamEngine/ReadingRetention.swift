import Foundation
import GRDB
import Provenance
import TimeSeries

/// What a retention pass removed from engine.sqlite (the store reports its own chunks and rollups).
public struct ReadingRetentionReport: Sendable, Hashable, CustomStringConvertible {
    public var batches = 0
    public var readings = 0
    public var provenanceEntries = 0
    public var devices = 0
    public var quarantined = 0
    public var malformed = 0
    public var summaryRevisions = 0
    public var windowVersions = 0
    /// The ledger's retirement entry for the readings removed, when any were recorded in the ledger.
    public var ledgerEntry: Int?
    /// Batches old enough to go were kept because a destination has not read them from the feed yet.
    public var heldForSync = false

    public init() {}

    public var description: String {
        var text =
            "\(readings) readings in \(batches) batches, \(provenanceEntries) provenance entries, \(devices) registry rows, "
            + "\(quarantined) quarantined readings, \(malformed) malformed payloads, \(summaryRevisions) summary revisions, "
            + "\(windowVersions) window versions removed"
        if let ledgerEntry { text += "; ledger entry \(ledgerEntry) records the retirement" }
        if heldForSync { text += "; older readings kept until every destination has read them" }
        return text
    }
}

/// Retention of what readings leave in engine.sqlite: their rows and batches, provenance entries no reading uses any
/// more, registry rows of devices with no reading left, quarantined readings and malformed payloads past the age,
/// summary revisions the feed's readers have passed, and the version numbers of windows long past. Whole batches go, oldest first, so every ledger entry keeps all
/// its readings or none, and the ledger records the retirement before anything is removed.
extension ReadingArchive {
    struct RetirementPlan {
        var batches: [(id: Int64, first: Int64?, last: Int64?, parts: [SpanPart], ledgerSequence: Int?)] = []
        var heldForSync = false
        /// The oldest reading of the first batch that stays (nil: none stays): the store keeps raw samples from there on,
        /// since a span's readings are its samples.
        var keptFromMicros: Int64?
        /// The last ledger entry whose readings go (entries 1… it may have no readings left afterwards).
        var ledgerThrough: Int? { batches.compactMap(\.ledgerSequence).max() }
    }

    /// The oldest stored batches (row order is ledger order) whose readings are all effective before `cutoff` and which
    /// every destination has read from the feed (`feedReadThrough`; nil: nobody reads it), at most `limit`. A pass costs
    /// what it removes — one range of rows per batch — never a walk through what stays. A ledger entry that recorded
    /// several batches (a recovery) goes only with all of them.
    func retirementPlan(cutoff: Int64, feedReadThrough: Int64?, limit: Int) throws -> RetirementPlan {
        try queue.read { db in
            var plan = RetirementPlan()
            let base = try Int64.fetchOne(db, sql: "SELECT legacy_seq FROM reading_feed_base") ?? 0
            let batches = try JournalBatchRecord.fetchAll(
                db, sql: "SELECT \(JournalBatchRecord.columns) FROM journal_batch ORDER BY id LIMIT ?",
                arguments: [limit + 1])
            let spanEnd = try db.cachedStatement(sql: "SELECT span_last_micros FROM reading WHERE id = ?")
            var stoppedAt: JournalBatchRecord?
            for batch in batches {
                let (first, last) = (batch.firstRow, batch.lastRow)
                var count = 0
                var newest: Int64?
                var oldest: Int64?
                var stored = batch.feedSeq != nil
                if let first, let last {
                    let rows = try BatchRowsSummary.fetchOne(
                        db,
                        sql: """
                            SELECT max(COALESCE(span_last_micros, effective_micros)) AS newest, min(effective_micros) AS oldest,
                            min(stored) AS stored, count(*) AS count FROM reading WHERE id BETWEEN ? AND ?
                            """,
                        arguments: [first, last])
                    count = rows?.count ?? 0
                    if let rows, count > 0 {
                        newest = rows.newest
                        oldest = rows.oldest
                        stored = stored && rows.stored == 1
                    }
                }
                // A part goes when its whole span has ended before the cutoff (the span row goes with its last part).
                let parts = try batch.spanParts()
                for part in parts {
                    count += 1
                    let end = try Int64.fetchOne(spanEnd, arguments: [part.span]) ?? part.to
                    newest = max(newest ?? end, end)
                    oldest = min(oldest ?? part.from, part.from)
                }
                if count > 0 {
                    guard plan.batches.count < limit, let newest, newest < cutoff, stored else {
                        stoppedAt = batch
                        plan.keptFromMicros = oldest
                        break
                    }
                }
                if let feedReadThrough, base + (batch.feedSeq ?? 0) > feedReadThrough {
                    plan.heldForSync = true
                    stoppedAt = batch
                    plan.keptFromMicros = oldest
                    break
                }
                plan.batches.append((batch.id, first, last, parts, batch.ledgerSequence))
            }
            if let sequence = stoppedAt?.ledgerSequence {
                while let tail = plan.batches.last, tail.ledgerSequence == sequence { plan.batches.removeLast() }
            }
            return plan
        }
    }

    /// Removes the planned batches and what no remaining reading needs, in one transaction.
    func retire(_ plan: RetirementPlan, cutoff: Int64) throws -> ReadingRetentionReport {
        var report = ReadingRetentionReport()
        report.heldForSync = plan.heldForSync
        try queue.write { db in
            var horizon: Int64 = 0
            for batch in plan.batches {
                if let first = batch.first, let last = batch.last {
                    // An extendable span row goes with its last part (below), not with the batch that began it.
                    report.readings +=
                        try Int.fetchOne(
                            db,
                            sql:
                                "SELECT COALESCE(sum(COALESCE(span_count, 1)), 0) FROM reading WHERE id BETWEEN ? AND ? AND NOT (span_count IS NOT NULL AND body = ?)",
                            arguments: [first, last, Self.extendableSpanBody]) ?? 0
                    try db.execute(
                        sql:
                            "DELETE FROM reading WHERE id BETWEEN ? AND ? AND NOT (span_count IS NOT NULL AND body = ?)",
                        arguments: [first, last, Self.extendableSpanBody])
                    horizon = max(horizon, last)
                }
                for part in batch.parts {
                    report.readings += part.count
                    try db.execute(
                        sql: "DELETE FROM reading WHERE id = ? AND span_last_micros <= ?",
                        arguments: [part.span, part.to])
                    if db.changesCount == 0 {
                        // The span goes on in batches that stay: it now begins after this part.
                        try db.execute(
                            sql:
                                "UPDATE reading SET effective_micros = max(effective_micros, ?), span_count = max(span_count - ?, 0) WHERE id = ?",
                            arguments: [part.to &+ 1, part.count, part.span])
                    }
                }
                try db.execute(sql: "DELETE FROM journal_batch WHERE id = ?", arguments: [batch.id])
            }
            // Provenance entries of a span that stays (later batches hold parts of it) are still used.
            if horizon > 0,
                let staying = try Int64.fetchOne(
                    db, sql: "SELECT min(id) FROM reading WHERE id <= ?", arguments: [horizon])
            {
                horizon = staying - 1
            }
            report.batches = plan.batches.count
            if horizon > 0 {
                // The per-reading feed kept from before batches (only ever shrinks).
                try db.execute(sql: "DELETE FROM reading_feed WHERE reading <= ?", arguments: [horizon])
                report.provenanceEntries = try catalog.retire(rowsThrough: horizon, db)
            }
        }
        if report.provenanceEntries > 0 { catalog.forgetAll() }
        return report
    }

    /// Removes registry rows of devices whose newest reading is older than `cutoff` (none of their readings is left),
    /// quarantined readings — held for a person never named for as long as data is kept at all — and malformed payloads
    /// received before it.
    /// While readings are held for a destination, the registry keeps their devices.
    func retireLeftovers(cutoff: Int64, into report: inout ReadingRetentionReport) throws {
        try queue.write { db in
            if !report.heldForSync {
                report.devices = try RegistryRecord.filter(RegistryRecord.Columns.lastMicros < cutoff).deleteAll(db)
            }
            try db.execute(sql: "DELETE FROM quarantine WHERE received_micros < ?", arguments: [cutoff])
            report.quarantined = db.changesCount
            try db.execute(sql: "DELETE FROM malformed WHERE received_micros < ?", arguments: [cutoff])
            report.malformed = db.changesCount
            // Version numbers of windows that ended a day before the cutoff: no reading of theirs is left to revise them.
            try db.execute(
                sql: "DELETE FROM window_version WHERE label_seconds < ?",
                arguments: [SummaryLog.labelSeconds(cutoff - 2 * 86_400_000_000)])
            report.windowVersions = db.changesCount
        }
    }

    /// Removes summary revisions of windows that ended before `cutoff` which the feed's readers have passed
    /// (`readThrough`; nil: nobody reads the feed), looking at the oldest `limit` revisions.
    func retireSummaryRevisions(cutoff: Int64, readThrough: Int64?, limit: Int) throws -> Int {
        try queue.write { db in
            try db.execute(
                sql: """
                    DELETE FROM summary_revision WHERE seq IN (SELECT seq FROM summary_revision WHERE seq <= ? ORDER BY seq LIMIT ?)
                    AND \(SummaryLog.endExpression) < ?
                    """,
                arguments: [readThrough ?? Int64.max, limit, cutoff])
            let retired = db.changesCount
            // Flush times no remaining revision reads (each reads the newest flush at or before it); all when none remains.
            try db.execute(
                sql: """
                    DELETE FROM summary_flush WHERE seq < COALESCE(
                        (SELECT MAX(f.seq) FROM summary_flush f WHERE f.seq <= (SELECT MIN(seq) FROM summary_revision)),
                        CASE WHEN EXISTS (SELECT 1 FROM summary_revision) THEN 0 ELSE 9223372036854775807 END)
                    """)
            return retired
        }
    }

    /// Migration v12: each provenance entry's last row (within `ProvenanceCatalog.lastUseSlack`), so retention finds the
    /// entries no reading uses without an index on every row; and the keyframe each entry depends on.
    static let provenanceLastUseMigration = """
        ALTER TABLE provenance ADD COLUMN last_row INTEGER;
        CREATE TEMP TABLE provenance_last (id INTEGER PRIMARY KEY, last INTEGER NOT NULL);
        INSERT INTO provenance_last SELECT provenance_id, max(id) FROM reading GROUP BY provenance_id;
        UPDATE provenance SET last_row = COALESCE((SELECT last FROM provenance_last t WHERE t.id = provenance.id), 0);
        DROP TABLE provenance_last;
        CREATE INDEX provenance_by_last_row ON provenance(last_row);
        CREATE INDEX provenance_by_base ON provenance(base_id);
        """
}

extension StreamEngine {
    /// Applies retention to everything readings left behind: the store's raw chunks older than `cutoff` become rollups
    /// (which keep answering `$stats`), and engine.sqlite's readings, provenance, registry, quarantine, malformed payloads
    /// and summary revisions follow (`ReadingArchive.retire`). Readings a destination has not read from the feed yet
    /// (`feedReadThrough`, `summariesReadThrough`: the lowest positions of every destination; nil when there are none)
    /// are kept. Runs on the engine, so no batch is half-journaled while it plans.
    public func applyRetention(
        olderThan cutoff: Int64, feedReadThrough: Int64?, summariesReadThrough: Int64?
    ) throws -> (store: RetentionReport, archive: ReadingRetentionReport) {
        options.ingestLock?.lock()  // not while a backup copies
        defer { options.ingestLock?.unlock() }
        var report = ReadingRetentionReport()
        let limit = 1024
        var keptFrom: Int64?
        while true {
            let plan = try archive.retirementPlan(cutoff: cutoff, feedReadThrough: feedReadThrough, limit: limit)
            report.heldForSync = report.heldForSync || plan.heldForSync
            keptFrom = plan.keptFromMicros
            guard !plan.batches.isEmpty else { break }
            // Recorded first: a crash before the removal leaves readings the ledger says may be gone (still verified
            // when present), never readings gone that the ledger still expects.
            if let through = plan.ledgerThrough, let ledger {
                report.ledgerEntry = try ledger.recordRetirement(
                    through: through, cutoffMicros: cutoff, recordedMicros: options.clock())
            }
            let removed = try archive.retire(plan, cutoff: cutoff)
            report.batches += removed.batches
            report.readings += removed.readings
            report.provenanceEntries += removed.provenanceEntries
            if plan.batches.count < limit { break }
        }
        // The store goes no further than the oldest reading kept: a span's readings are its samples.
        let storeReport = try store.applyRetention(rawOlderThan: min(cutoff, keptFrom ?? cutoff))
        try archive.retireLeftovers(cutoff: cutoff, into: &report)
        report.summaryRevisions = try archive.retireSummaryRevisions(
            cutoff: cutoff, readThrough: summariesReadThrough, limit: 10_000)
        return (storeReport, report)
    }
}

/// What a batch's rows hold (`retirementPlan`): their newest and oldest time, whether all are stored, how many.
private struct BatchRowsSummary: Decodable, FetchableRecord {
    var newest: Int64?
    var oldest: Int64?
    var stored: Int64?
    var count: Int
}
