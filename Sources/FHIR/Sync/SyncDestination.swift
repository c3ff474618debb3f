import Foundation
import Provenance
import StreamEngine

/// One consent rule of a destination: these subjects' readings of these kinds may leave — as window summaries
/// always, as raw readings only when `raw` is true (DESIGN.md rule 7). "*" in `subjects` means every subject.
public struct SharingRule: Sendable, Hashable {
    public var subjects: Set<String>
    public var kinds: Set<ReadingKind>
    public var raw: Bool

    public init(subjects: Set<String>, kinds: Set<ReadingKind>, raw: Bool = false) {
        (self.subjects, self.kinds, self.raw) = (subjects, kinds, raw)
    }

    func covers(subject: String) -> Bool { subjects.contains("*") || subjects.contains(subject) }
}

/// A downstream FHIR server (a personal health record, or a care-facility hub) and what may be sent to it.
public struct SyncDestination: Sendable {
    public var name: String
    /// The FHIR base, e.g. https://phr.example/fhir; transaction Bundles are POSTed to it.
    public var baseURL: String
    /// A static bearer token, or SMART Backend Services (`smart`): short-lived tokens from the PHR's token endpoint.
    public var bearerToken: String?
    public var smart: SMARTBackendSettings?
    public var rules: [SharingRule] = []
    /// This destination's own identifier of each subject (a PHR account id), by subject: its Patients are matched on it.
    public var patientIdentifiers: [String: PatientIdentifier] = [:]
    public var intervalSeconds = 10.0
    public var batchSize = 100
    public var retryInitialSeconds = 2.0
    public var retryMaximumSeconds = 3600.0
    /// A PEM file of the certificates to trust for this destination instead of the system's (a private PHR, a care
    /// facility's hub with its own certificate): its name is still verified.
    public var caFile: String?
    /// Whether readings marked as test data (HTEST) may leave for this destination (a test PHR); never by default.
    /// Summaries leave test data out anyway (it is among the doubtful flags).
    public var testData = false

    public init(name: String, baseURL: String, bearerToken: String? = nil, rules: [SharingRule] = []) {
        (self.name, self.baseURL, self.bearerToken, self.rules) = (name, baseURL, bearerToken, rules)
    }

    /// Whether a summary of this series may be sent: some rule covers its subject and its kind. Nothing matching
    /// no rule leaves.
    public func allowsSummary(subject: String, metric: String) -> Bool {
        guard let kind = Self.kind(ofSeriesMetric: metric) else { return false }
        return rules.contains { $0.covers(subject: subject) && $0.kinds.contains(kind) }
    }

    /// Whether this raw reading may be sent: a rule covers its subject and kind and allows raw readings, and it is not
    /// test data (HTEST: a meter's control-solution check) unless the destination takes test data (`testData`).
    public func allowsRaw(_ reading: Reading) -> Bool {
        guard let subject = reading.subject, testData || !reading.flags.contains(.testData) else { return false }
        return rules.contains { $0.raw && $0.covers(subject: subject) && $0.kinds.contains(reading.kind) }
    }

    /// Whether an entry queued for `subject` (a raw reading, or a summary) of `kind` may still leave under these rules.
    /// An entry queued before kinds were kept (no kind) still may while a rule covers its subject for it.
    public func allows(subject: String, raw: Bool, kind: ReadingKind?) -> Bool {
        rules.contains { rule in
            rule.covers(subject: subject) && (!raw || rule.raw) && (kind.map(rule.kinds.contains) ?? true)
        }
    }

    /// The rules as text, one canonical line each in a stable order: what `Outbox.appliedRules` compares, so a changed
    /// rule is noticed (and the queue gone through) once, not on every pass.
    public var rulesText: String {
        rules.map { rule in
            rule.subjects.sorted().joined(separator: ",") + "|"
                + rule.kinds.map(\.rawValue).sorted().joined(separator: ",")
                + "|" + (rule.raw ? "raw" : "summaries")
        }.sorted().joined(separator: "\n")
    }

    /// The kind a series' metric belongs to, as consent names it (bp_systolic → blood_pressure).
    public static func kind(ofSeriesMetric metric: String) -> ReadingKind? { Metric(rawValue: metric)?.readingKind }
}
