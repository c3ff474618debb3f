import FHIR
import Foundation
import GatewayRuntime
import Provenance

/// One HTTP request as the API needs it, independent of the server library.
package struct APIRequest: Sendable {
    package var method: String
    package var path: String
    package var query: String?
    package var host: String?
    package var peerIsLoopback: Bool
    /// The request body (POST): at most `APIServer.maximumBodyBytes`.
    package var body: [UInt8] = []
    package var contentType: String? = nil
    /// Who the Authorization header says is calling (the authentication middleware's finding).
    package var caller: APICaller = .anonymous

    package init(
        method: String, path: String, query: String?, host: String?, peerIsLoopback: Bool,
        body: [UInt8] = [], contentType: String? = nil, caller: APICaller = .anonymous
    ) {
        (self.method, self.path, self.query, self.host) = (method, path, query, host)
        (self.peerIsLoopback, self.body, self.contentType, self.caller) = (peerIsLoopback, body, contentType, caller)
    }
}

package struct APIResponse: Sendable {
    package var status: Int
    package var body: ExactJSON
    /// nil: application/fhir+json; the token endpoint answers OAuth's application/json.
    package var contentType: String? = nil
}

/// The FHIR API's handlers, one per route (`APIServer.install` gives each its path and methods), and the answer for
/// what no route takes. Every response body is a FHIR resource (errors are OperationOutcomes), served as
/// application/fhir+json.
package struct FHIRAPI: Sendable {
    package let data: APIData
    package let access: APIAccess
    package let audit: AuditLog
    /// The subjects' time zone: date-only search values and $stats windows are local days/hours here.
    package let zone: TimeZone
    /// Subjects with a zone of their own (from the configuration); others use `zone`.
    package var subjectZones: [String: TimeZone] = [:]
    package let listen: String
    /// "https" when the listener speaks TLS: the scheme of the links the API writes (Bundle fullUrl, paging).
    package var scheme = "http"
    /// The data directory (the ledger lives in DATA/ledger).
    package let directory: String
    /// Hub mode: accept transaction Bundles at POST /fhir into this store.
    package var hub: ReceivedResources? = nil
    /// SMART Backend Services clients' token endpoint (POST /auth/token), when clients are registered.
    package var tokenEndpoint: TokenEndpoint? = nil

    package func base(_ request: APIRequest) -> String { scheme + "://" + (request.host ?? listen) + "/fhir" }

    /// A request no route takes: the FHIR answer for an unknown path (404) or a method the path does not take (405),
    /// decided before any token is looked at, so a caller without one learns what exists the way one with one does.
    package func unrouted(_ request: APIRequest) throws -> APIResponse {
        let parts = request.path.split(separator: "/").map(String.init)
        guard parts.first == "fhir", (2...3).contains(parts.count) else {
            throw APIError.notFound("No route \(request.path) (see /fhir/metadata).")
        }
        guard Self.resourceTypes.contains(parts[1]) || (parts[1] == "metadata" && parts.count == 2) else {
            throw APIError.notFound(
                "No route \(request.path): resource types served are Patient, Observation, Device and Provenance.")
        }
        try Self.checkMethod(request.method, parts)
        throw APIError.notFound("No route \(request.path) (Provenance is searched by target, not read by id).")
    }

    package static let resourceTypes = ["Observation", "Device", "Provenance", "Patient"]

    /// DESIGN.md rule 7: no read without a valid token unless loopback was opened — the CapabilityStatement too.
    private func readGrant(_ request: APIRequest, _ resourceType: String?, _ note: APIRequestNote) throws -> APIGrant {
        let grant = try access.grant(request.caller, peerIsLoopback: request.peerIsLoopback, resourceType: resourceType)
        note.caller = grant.caller
        return grant
    }

    // MARK: Routes (APIServer.install gives each its path and methods)

    /// POST /auth/token: SMART Backend Services' client credentials grant.
    package func token(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        guard let tokenEndpoint else { return try unrouted(request) }
        let (response, client) = tokenEndpoint.respond(request, nowSeconds: Int64(Date().timeIntervalSince1970))
        note.caller = client
        return response
    }

    /// SMART discovery: public, like the CapabilityStatement's security section it complements.
    package func smartConfiguration(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        guard tokenEndpoint != nil else { return try unrouted(request) }
        return APIResponse(
            status: 200, body: TokenEndpoint.configuration(base: base(request)), contentType: "application/json")
    }

    package func metadata(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        _ = try readGrant(request, nil, note)
        return APIResponse(status: 200, body: Capability.statement(base: base(request)))
    }

    package func searchObservations(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Observation", note)
        return try searchObservations(request, APIQuery(request.query), grant, note: note)
    }

    /// `$stats` by GET, or by POST with its parameters in the body (form or Parameters), joined to the URL's.
    package func stats(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Observation", note)
        let query = request.method == "POST" ? try OperationParameters.query(request) : APIQuery(request.query)
        // The subject asked for is audited even when the request is refused (a 403 is what its person wants to see).
        note.subjects = Self.requestedSubjects(query)
        // StatsOperation reports a bad request itself, in its own order (an unknown parameter first).
        let subjectZone = (try? query.operationSubject(grant: grant)).flatMap { subjectZones[$0] } ?? zone
        let stats = try StatsOperation(query, grant: grant, zone: subjectZone)
        note.subjects = [stats.subject]
        return APIResponse(status: 200, body: try stats.run(data))
    }

    package func lastN(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Observation", note)
        let query = APIQuery(request.query)
        note.subjects = Self.requestedSubjects(query)
        let lastN = try LastNOperation(query, grant: grant)
        note.subjects = [lastN.subject]
        return APIResponse(status: 200, body: try lastN.run(data, base: base(request)))
    }

    package func observation(_ request: APIRequest, id: String, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Observation", note)
        // Only the token's own subjects are looked in: another person's id answers 404, as an unknown one does,
        // so a patient-scoped token cannot learn which ids exist.
        guard let hit = try data.observation(id: id, subjects: try data.subjects(allowed: grant.subjects)) else {
            throw APIError.notFound("Observation/\(id) is not known.")
        }
        note.subjects = [hit.subject]
        return APIResponse(status: 200, body: hit.resource.json)
    }

    package func devices(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Device", note)
        for item in APIQuery(request.query).items where !APIQuery.isResponseFormatting(item.name) {
            throw APIError.badParameter(item.name, "Device supports no search parameters; it lists every device")
        }
        let subjects = try data.subjects(allowed: grant.subjects)
        note.subjects = subjects
        let devices = try data.devices(subjects: subjects)
        return APIResponse(
            status: 200,
            body: SearchBundle.searchset(
                devices, total: devices.count, base: base(request), links: [("self", base(request) + "/Device")]))
    }

    package func device(_ request: APIRequest, id: String, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Device", note)
        let subjects = try data.subjects(allowed: grant.subjects)
        note.subjects = subjects
        guard let device = try data.devices(subjects: subjects).first(where: { $0.id == id }) else {
            throw APIError.notFound("Device/\(id) is not known.")
        }
        return APIResponse(status: 200, body: device.json)
    }

    package func patients(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Patient", note)
        let search = try PatientSearch(APIQuery(request.query))
        let subjects = try data.subjects(allowed: grant.subjects)
        let patients = try data.patients(subjects: subjects).filter(search.matches)
        note.subjects = patients.map(\.id)
        return APIResponse(
            status: 200,
            body: SearchBundle.searchset(
                patients, total: patients.count, base: base(request),
                links: [("self", base(request) + "/Patient" + (request.query.map { "?" + $0 } ?? ""))]))
    }

    package func patient(_ request: APIRequest, id: String, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Patient", note)
        // Another person's id answers 404, as an unknown one does (as for Observations).
        guard try data.subjects(allowed: grant.subjects).contains(id),
            let patient = try data.patients(subjects: [id]).first
        else {
            throw APIError.notFound("Patient/\(id) is not known.")
        }
        note.subjects = [id]
        return APIResponse(status: 200, body: patient.json)
    }

    package func provenance(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        let grant = try readGrant(request, "Provenance", note)
        let search = try ProvenanceSearch(APIQuery(request.query))
        var touched: [String] = []
        defer { note.subjects = touched }
        return APIResponse(
            status: 200,
            body: try search.run(data, grant: grant, directory: directory, base: base(request), touched: &touched))
    }

    /// The subjects an operation's `subject`/`patient` parameters name, for the audit log of a refused request.
    package static func requestedSubjects(_ query: APIQuery) -> [String] {
        (query.all("subject") + query.all("patient")).flatMap { text in
            (try? ReferenceParameter(text, type: "Patient", parameter: "subject").ids) ?? [text]
        }
    }

    /// GET and HEAD read everything; POST only runs operations whose parameters may travel in the body
    /// (`$stats`), because a query string cannot carry a long coding list or a Parameters resource.
    package static func checkMethod(_ method: String, _ parts: [String]) throws(APIError) {
        switch (method, parts.count == 3 ? parts[2] : nil) {
        case ("GET", _), ("HEAD", _): return
        case ("POST", "$stats"?) where parts[1] == "Observation": return
        // POST /fhir (the hub) has its own route.
        default:
            throw APIError(
                status: 405, code: "not-supported",
                diagnostics:
                    "Method \(method) is not supported on /\(parts.joined(separator: "/")); this API is read-only (GET), "
                    + "and POST is accepted only for /fhir/Observation/$stats.")
        }
    }

    /// POST /fhir on a hub: a home gateway's transaction Bundle, applied all or nothing (HubTransaction). Needs a
    /// token with a write scope (system/*.write, or patient/*.write@SUBJECT for one person's uploads).
    package func receiveTransaction(_ request: APIRequest, note: APIRequestNote) throws -> APIResponse {
        guard let hub else {
            throw APIError(
                status: 405, code: "not-supported",
                diagnostics: "This gateway is not a hub: it accepts no uploads (api.hub in the configuration).")
        }
        let grant = try access.writeGrant(request.caller)
        note.caller = grant.caller
        let bundle: ExactJSON
        do { bundle = try ExactJSON.parse(request.body) } catch {
            throw APIError(status: 400, code: "invalid", diagnostics: "The body is not JSON: \(error)")
        }
        let transaction = HubTransaction(store: hub, source: grant.caller, allowedSubjects: grant.subjects)
        let result = try transaction.apply(bundle, nowMicros: DateText.micros(Date()))
        note.subjects = result.subjects
        return APIResponse(status: 200, body: result.response)
    }

    private func searchObservations(
        _ request: APIRequest, _ query: APIQuery, _ grant: APIGrant, note: APIRequestNote
    ) throws -> APIResponse {
        let search = try ObservationSearch(query, zone: zone)
        var subjects = try data.subjects(allowed: grant.subjects)
        if let requested = search.subjects {
            if let denied = requested.first(where: { !grant.allows(subject: $0) }) {
                note.subjects = requested
                throw APIError.forbidden("The token may not read subject '\(denied)'.")
            }
            subjects = requested
        }
        note.subjects = subjects
        let page = try ObservationPage.find(search, subjects: subjects, data: data)

        let kept = query.items.filter { $0.name != "_offset" }
        func link(_ offset: Int) -> String {
            base(request) + "/Observation?" + APIQuery.encode(kept + [("_offset", String(offset))])
        }
        var links = [("self", link(search.offset))]
        if page.hasMore { links.append(("next", link(search.offset + search.count))) }
        if search.offset > 0 { links.append(("previous", link(max(0, search.offset - max(search.count, 1))))) }
        return APIResponse(
            status: 200,
            body: SearchBundle.searchset(
                page.hits.map(\.resource), included: page.included, total: page.total, base: base(request), links: links
            ))
    }
}

/// Bundle building.
package enum SearchBundle {
    /// `total`: nil when it was not counted (a long history searched page by page). `included`: resources the matches
    /// refer to (`search.mode = include`, not counted in `total`). A resource is in the Bundle once.
    package static func searchset(
        _ resources: [FHIRResource], included: [FHIRResource] = [], total: Int?, base: String, links: [(String, String)]
    ) -> ExactJSON {
        var seen: Set<String> = []
        let entries = (resources.map { ($0, "match") } + included.map { ($0, "include") }).filter {
            seen.insert($0.0.reference).inserted
        }
        return .obj([
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total.map { .integer($0) },
            "link": .list(links.map { .obj(["relation": .string($0.0), "url": .string($0.1)]) }),
            "entry": .list(
                entries.map { resource, mode in
                    .obj([
                        "fullUrl": .string(base + "/" + resource.reference),
                        "resource": resource.json,
                        "search": .obj(["mode": .string(mode)]),
                    ])
                }),
        ])
    }
}
