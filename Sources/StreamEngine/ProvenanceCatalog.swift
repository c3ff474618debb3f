import Crypto
import Foundation
import GRDB
import Provenance
import Synchronization

/// What many readings share — subject, device record, gateway, measurement context, the time decision with its
/// clock comparison and correction, flags, characteristic — stored once, content-addressed (SHA-256 of its
/// canonical JSON), and referenced from each reading by a small integer. A strap's notifications of one connection
/// share one entry; what varies per reading is a `ReadingVariation`.
struct ReadingTemplate: Hashable, Sendable, Codable {
    var kind: ReadingKind
    var subject: String?
    var device: DeviceRecord
    var gateway: GatewayRecord
    /// The glucose context's sequence number is per reading: it is in the variation, 0 here.
    var context: MeasurementContext
    /// Receive and effective time, device stamp and glucose time offset are per reading: in the variation.
    var time: TimeProvenance
    var flags: ReadingFlags
    var characteristic: String
    var modelVersion: Int
}

/// What varies per reading, kept small: times as offsets, components as [metric, unit, mantissa, exponent] (or
/// [metric, unit, absent reason]), payloads in base64.
struct ReadingVariation: Codable {
    /// Effective time, µs.
    var e: Int64
    /// Receive time minus effective time, µs (0 for a reading stamped at its receive time).
    var r: Int64
    var c: [[ComponentField]]
    var p: [String]
    /// Device-reported sequence number (glucose).
    var s: UInt16?
    /// Device timestamp and glucose time offset, minutes.
    var d: DeviceWallClock?
    var o: Int?
    /// Glucose context sequence number.
    var g: UInt16?

    enum ComponentField: Codable, Hashable {
        case text(String)
        case number(Int64)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int64.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .number(let number): try container.encode(number)
            }
        }
    }
}

/// A reading's values that no template or variation can hold are refused loudly rather than dropped.
struct ReadingSplitError: Error, CustomStringConvertible {
    var description: String
}

extension Reading {
    /// The shared part and the per-reading part; `Reading(template:variation:)` puts them back together exactly.
    func split() -> (ReadingTemplate, ReadingVariation) {
        var context = self.context
        let glucoseSequence = context.glucose?.sequenceNumber
        context.glucose?.sequenceNumber = 0
        var time = self.time
        time.receivedMicros = 0
        time.effectiveMicros = 0
        time.deviceTimestamp = nil
        time.deviceTimeOffsetMinutes = nil
        let template = ReadingTemplate(
            kind: kind, subject: subject, device: device, gateway: gateway, context: context, time: time, flags: flags,
            characteristic: characteristic, modelVersion: modelVersion)
        let components: [[ReadingVariation.ComponentField]] = components.map { component in
            switch component.value {
            case .quantity(let quantity):
                [.text(component.metric.rawValue), .text(component.unit), .number(quantity.mantissa), .number(Int64(quantity.exponent))]
            case .absent(let reason): [.text(component.metric.rawValue), .text(component.unit), .text(reason.rawValue)]
            }
        }
        let variation = ReadingVariation(
            e: self.time.effectiveMicros, r: self.time.receivedMicros - self.time.effectiveMicros, c: components,
            p: rawPayloads.map { Data($0).base64EncodedString() }, s: sequenceNumber, d: self.time.deviceTimestamp,
            o: self.time.deviceTimeOffsetMinutes, g: glucoseSequence)
        return (template, variation)
    }

    init(template: ReadingTemplate, variation: ReadingVariation) throws {
        var components: [ReadingComponent] = []
        for fields in variation.c {
            guard fields.count >= 3, case .text(let name) = fields[0], let metric = Metric(rawValue: name), case .text(let unit) = fields[1] else {
                throw ReadingSplitError(description: "a stored component is not [metric, unit, value…]: \(fields)")
            }
            switch (fields.count, fields[2]) {
            case (4, .number(let mantissa)):
                guard case .number(let exponent) = fields[3], let e = Int8(exactly: exponent) else {
                    throw ReadingSplitError(description: "a stored component has no valid exponent: \(fields)")
                }
                components.append(ReadingComponent(metric: metric, value: .quantity(DecimalQuantity(mantissa: mantissa, exponent: e)), unit: unit))
            case (3, .text(let text)):
                guard let reason = AbsentValueReason(rawValue: text) else { throw ReadingSplitError(description: "unknown absent reason '\(text)'") }
                components.append(ReadingComponent(metric: metric, value: .absent(reason), unit: unit))
            default:
                throw ReadingSplitError(description: "a stored component is not [metric, unit, value…]: \(fields)")
            }
        }
        var payloads: [[UInt8]] = []
        for text in variation.p {
            guard let bytes = Data(base64Encoded: text) else { throw ReadingSplitError(description: "a stored payload is not base64") }
            payloads.append(Array(bytes))
        }
        var context = template.context
        if let sequence = variation.g { context.glucose?.sequenceNumber = sequence }
        var time = template.time
        time.effectiveMicros = variation.e
        time.receivedMicros = variation.e + variation.r
        time.deviceTimestamp = variation.d
        time.deviceTimeOffsetMinutes = variation.o
        self.init(
            kind: template.kind, components: components, subject: template.subject, device: template.device, gateway: template.gateway,
            context: context, time: time, flags: template.flags, characteristic: template.characteristic, rawPayloads: payloads,
            sequenceNumber: variation.s)
        modelVersion = template.modelVersion
    }
}

/// The content-addressed store of reading templates in engine.sqlite (`provenance`), with an in-memory cache both
/// ways: ingest looks templates up by digest, reads decode each template once.
final class ProvenanceCatalog: Sendable {
    static let migration = """
        CREATE TABLE provenance (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, body BLOB NOT NULL);
        """

    private let byDigest = Mutex<[Data: Int64]>([:])
    private let byID = Mutex<[Int64: ReadingTemplate]>([:])
    /// Ingest's fast path: a strap's notifications share one template, found by value without encoding or hashing it.
    private let byTemplate = Mutex<[ReadingTemplate: Int64]>([:])
    /// The caches are bounded: every connection of a device with a clock brings a new template.
    static let cacheLimit = 4096

    /// The id of a template, inserting it on first sight (inside the caller's transaction).
    func id(of template: ReadingTemplate, _ db: Database) throws -> Int64 {
        if let id = byTemplate.withLock({ $0[template] }) { return id }
        let body = try ReadingArchive.encoder.encode(template)
        let digest = Data(SHA256.hash(data: body))
        if let id = byDigest.withLock({ $0[digest] }) { return id }
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM provenance WHERE digest = ?", arguments: [digest]) {
            remember(id, digest: digest, template: template)
            return id
        }
        try db.execute(sql: "INSERT INTO provenance (digest, body) VALUES (?, ?)", arguments: [digest, body])
        let id = db.lastInsertedRowID
        // Cached only after the transaction that inserted it commits would be safer; a rolled-back insert leaves an
        // id that the next lookup misses in SQLite and re-inserts, so the cache is filled on read instead.
        return id
    }

    /// The template with this id, decoded once.
    func template(_ id: Int64, _ db: Database) throws -> ReadingTemplate {
        if let cached = byID.withLock({ $0[id] }) { return cached }
        guard let body = try Data.fetchOne(db, sql: "SELECT body FROM provenance WHERE id = ?", arguments: [id]) else {
            throw ReadingSplitError(description: "provenance entry \(id) is missing from the catalog")
        }
        let digest = Data(SHA256.hash(data: body))
        let template: ReadingTemplate
        do { template = try JSONDecoder().decode(ReadingTemplate.self, from: body) } catch {
            throw ReadingSplitError(description: "provenance entry \(id) does not decode: \(error)")
        }
        byID.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[id] = template
        }
        remember(id, digest: digest, template: template)
        return template
    }

    /// Caches a committed entry both ways (cleared wholesale when full: the catalog in SQLite stays the truth).
    private func remember(_ id: Int64, digest: Data, template: ReadingTemplate) {
        byDigest.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[digest] = id
        }
        byTemplate.withLock {
            if $0.count >= Self.cacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[template] = id
        }
    }

    /// A stored reading from its template id and variation body.
    func reading(provenance id: Int64, body: Data, _ db: Database) throws -> Reading {
        let variation: ReadingVariation
        do { variation = try JSONDecoder().decode(ReadingVariation.self, from: body) } catch {
            throw ReadingSplitError(description: "a stored reading does not decode: \(error)")
        }
        return try Reading(template: try template(id, db), variation: variation)
    }
}
