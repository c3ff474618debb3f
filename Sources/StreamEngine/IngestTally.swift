/// Counts what became of ingested readings (`gatewayd collect` prints the totals).
package actor IngestTally {
    package init() {}

    package struct Totals: Sendable {
        package var stored = 0, duplicates = 0, quarantined = 0, rejected = 0, failures = 0
    }
    package private(set) var totals = Totals()

    package func add(_ outcomes: [IngestOutcome]) {
        for outcome in outcomes { add(outcome) }
    }

    package func add(_ outcome: IngestOutcome) {
        switch outcome {
        case .stored: totals.stored += 1
        case .duplicate: totals.duplicates += 1
        case .quarantined: totals.quarantined += 1
        case .rejected: totals.rejected += 1
        }
    }

    package func fail() { totals.failures += 1 }
}
