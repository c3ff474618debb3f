import FHIR
import Foundation
import GatewayRuntime
import Provenance
import StreamEngine
import TimeSeries

extension FHIRAPI {
    /// The API over a configuration's data directory (hub store, zones, tokens, JP coding), for serve, run and demo.
    /// `store`: the daemon's own live store; without it the API reads snapshots of DATA/store.
    package static func make(_ configuration: GatewayConfiguration, store: TimeSeriesStore? = nil) throws -> FHIRAPI {
        let dir = configuration.dataDirectory
        let hub = configuration.api.hub ? try ReceivedResources(path: dir + "/hub.sqlite") : nil
        var data = try APIData(
            directory: dir,
            gateway: GatewayRecord(id: configuration.gatewayID, softwareVersion: GatewayVersion.current), received: hub,
            decorate: JapaneseCoding.decorator(enabled: configuration.api.japaneseCoding), store: store)
        data.persons = Dictionary(
            configuration.subjects.map { ($0.id, $0.patient) }, uniquingKeysWith: { first, _ in first })
        data.zones = configuration.zones
        data.defaultZone = configuration.defaultZone
        data.dayParts = Dictionary(
            configuration.subjects.map { ($0.id, $0.windows) }, uniquingKeysWith: { first, _ in first })
        let issued = IssuedTokens()
        var api = FHIRAPI(
            data: data,
            access: APIAccess(
                tokens: configuration.api.tokens, allowLoopback: configuration.api.allowLoopback,
                issued: configuration.api.clients.isEmpty ? nil : issued),
            audit: try AuditLog(path: dir + "/audit.jsonl"), zone: configuration.defaultZone,
            listen: configuration.api.listen, directory: dir)
        api.subjectZones = configuration.zones
        api.hub = hub
        if !configuration.api.clients.isEmpty {
            api.tokenEndpoint = TokenEndpoint(clients: configuration.api.clients, issued: issued)
        }
        return api
    }

}
