import Foundation
import Provenance

/// Who the device says it is: the Device Information Service, read once per connection.
public struct DeviceIdentity: Hashable, Sendable {
    /// The link's address or socket label ("AA:BB:…", "unix:/run/bp.sock").
    public var link: String
    public var manufacturerName: String?
    public var modelNumber: String?
    public var serialNumber: String?
    public var hardwareRevision: String?
    public var firmwareRevision: String?
    public var softwareRevision: String?
    public var systemID: SystemID?
    public var regulatoryCertification: RegulatoryCertificationDataList?
    public var pnpID: PnPID?
    /// DIS values that were present but failed to decode (the error text); the rest is still usable.
    public var problems: [String] = []

    public init(link: String) { self.link = link }

    public var json: ExactJSON {
        var members: [(String, ExactJSON)] = [("link", .string(link))]
        func add(_ key: String, _ value: String?) { if let value { members.append((key, .string(value))) } }
        add("manufacturer_name_string", manufacturerName)
        add("model_number_string", modelNumber)
        add("serial_number_string", serialNumber)
        add("hardware_revision_string", hardwareRevision)
        add("firmware_revision_string", firmwareRevision)
        add("software_revision_string", softwareRevision)
        if let systemID { members.append(("system_id", systemID.json)) }
        if let regulatoryCertification {
            members.append(("regulatory_certification_data_list", regulatoryCertification.json))
        }
        if let pnpID { members.append(("pnp_id", pnpID.json)) }
        if !problems.isEmpty { members.append(("problems", .array(problems.map { .string($0) }))) }
        return .members(members)
    }
}

/// One reading of the device's own clock against the gateway's, the evidence Provenance needs to keep,
/// correct or refuse device timestamps (DESIGN.md rule 2).
public struct ClockObservation: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The device's clock as read.
        case read
        /// Read back right after the gateway set the device clock.
        case afterSet
    }

    public var kind: Kind
    /// The device's Current Time (wall clock, no zone).
    public var deviceTime: CurrentTime
    /// The device's Local Time Information, when it has one.
    public var localTime: LocalTimeInformation?
    /// Gateway time halfway through the read (request sent … response received).
    public var gatewayTime: Date
    /// How long the read took; bounds the uncertainty of the offset.
    public var roundTrip: Duration

    public var json: ExactJSON {
        .members([
            ("kind", .string(kind == .read ? "read" : "after_set")),
            ("current_time", deviceTime.json),
            ("local_time_information", localTime?.json ?? .null),
            ("gateway_time", .string(ISO8601DateFormatter().string(from: gatewayTime))),
            ("round_trip_ms", .number(String(Int((roundTrip.seconds * 1000).rounded())))),
        ])
    }
}
