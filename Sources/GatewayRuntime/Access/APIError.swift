import FHIR
import Provenance

/// A request the API refuses, with the HTTP status and what an OperationOutcome says about it.
package struct APIError: Error, Sendable {
    package var status: Int
    /// OperationOutcome issue code: invalid, not-supported, login, forbidden, not-found, exception.
    package var code: String
    package var diagnostics: String
    /// The offending search parameter, named in `expression` as well as in the text.
    package var parameter: String?

    package init(status: Int, code: String, diagnostics: String, parameter: String? = nil) {
        (self.status, self.code, self.diagnostics, self.parameter) = (status, code, diagnostics, parameter)
    }

    package static func badParameter(_ name: String, _ why: String) -> APIError {
        APIError(status: 400, code: "invalid", diagnostics: "Parameter '\(name)': \(why)", parameter: name)
    }
    package static func notFound(_ what: String) -> APIError {
        APIError(status: 404, code: "not-found", diagnostics: what)
    }
    package static let missingToken = APIError(
        status: 401, code: "login", diagnostics: "A bearer token is required (Authorization: Bearer TOKEN).")
    package static func forbidden(_ why: String) -> APIError {
        APIError(status: 403, code: "forbidden", diagnostics: why)
    }
    package static func methodNotAllowed(_ method: String) -> APIError {
        APIError(
            status: 405, code: "not-supported",
            diagnostics:
                "Method \(method) is not supported here; reads are GET, $stats may be POSTed, and a hub takes transaction Bundles at POST /fhir."
        )
    }

    package var outcome: ExactJSON {
        .obj([
            "resourceType": "OperationOutcome",
            "issue": .array([
                .obj([
                    "severity": "error",
                    "code": .string(code),
                    "diagnostics": .string(diagnostics),
                    "expression": parameter.map { .array([.string($0)]) },
                ])
            ]),
        ])
    }
}
