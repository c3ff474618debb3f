import Foundation
import TimeSeries

/// Aligned text tables: what the commands print (status, audit, store queries).
package enum TextTable {
    /// Window results, one row per window.
    package static func windows(_ result: WindowResult, timeZone: TimeZone) -> String {
        var rows: [[String]] = [["window start", "count", "excluded", "min", "max", "mean", "stddev", "first", "last"]]
        for w in result.windows {
            let a = w.aggregate
            rows.append([
                TimeFormat.iso8601(w.startMicros, timeZone: timeZone), String(a.count), String(w.excludedCount),
                a.min?.description ?? "-", a.max?.description ?? "-",
                a.mean.map { String(format: "%.3f", $0) } ?? "-",
                a.standardDeviation.map { String(format: "%.3f", $0) } ?? "-",
                a.first?.value.description ?? "-", a.last?.value.description ?? "-",
            ])
        }
        return aligned(rows)
    }

    /// Rows of cells as aligned text: the first column left-aligned, the others right-aligned.
    package static func aligned(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == 0
                    ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
