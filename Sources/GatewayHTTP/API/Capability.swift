import FHIR
import Foundation
import GatewayRuntime
import Provenance

/// The CapabilityStatement: exactly what `FHIRAPI` implements — read and search-type on Observation and Device,
/// the Observation search parameters `ObservationSearch` accepts, and the $stats operation (GET, or POST with its
/// parameters in the body). Nothing is written.
package enum Capability {
    package static func statement(base: String) -> ExactJSON {
        .obj([
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": .string(
                String(FHIRTime.instant(utcMicros: Int64(Date().timeIntervalSince1970 * 1_000_000)).prefix(10))),
            "kind": "instance",
            "software": .obj(["name": "gatewayd", "version": .string(GatewayVersion.current)]),
            "implementation": .obj(["description": "gatewayd local FHIR API (read-only)", "url": .string(base)]),
            "fhirVersion": .string(FHIRModule.fhirVersion),
            "format": .array(["application/fhir+json"]),
            "rest": .array([
                .obj([
                    "mode": "server",
                    "documentation": .string(
                        "Read-only; POST is accepted only for Observation/$stats (form or Parameters body). Bearer tokens with SMART-style scopes: system/*.read, or patient/*.read@SUBJECT bound to one subject. /fhir/metadata needs a token too (any valid one). Every request is audited."
                    ),
                    "security": .obj([
                        "service": .array([
                            .obj([
                                "coding": .array([
                                    .obj([
                                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                        "code": "SMART-on-FHIR",
                                    ])
                                ])
                            ])
                        ]),
                        "description":
                            "Static bearer tokens configured with --token TOKEN=SCOPE[,SCOPE…]; SMART scopes, no OAuth flow.",
                    ]),
                    "resource": .array([patient, observation, device, provenance]),
                ])
            ]),
        ])
    }

    package static var observation: ExactJSON {
        .obj([
            "type": "Observation",
            "supportedProfile": .array([
                .string(FHIRCodes.numericProfile), .string(FHIRCodes.compoundNumericProfile),
                .string(FHIRCodes.bitsProfile),
                .string(FHIRCodes.codedProfile), .string(FHIRCodes.coincidentTimeStampProfile),
            ]),
            "interaction": .array([.obj(["code": "read"]), .obj(["code": "search-type"])]),
            "searchParam": .array(
                ObservationSearch.parameters.map { param in
                    .obj([
                        "name": .string(param.name), "type": .string(param.type), "documentation": .string(param.doc),
                    ])
                }),
            "operation": .array([
                .obj([
                    "name": "stats",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Observation-stats",
                    "documentation": .string(
                        StatsOperation.documentation
                            + " GET with a query string, or POST with the same parameters as application/x-www-form-urlencoded or as a Parameters resource (valueString, valueCode, valueUri, valueDateTime, valueDecimal, valueInteger, valuePeriod for period, valueCoding for coding, valueReference for subject)."
                    ),
                ]),
                .obj([
                    "name": "lastn",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Observation-lastn",
                    "documentation": .string(LastNOperation.documentation),
                ]),
            ]),
        ])
    }

    package static var patient: ExactJSON {
        .obj([
            "type": "Patient",
            "interaction": .array([.obj(["code": "read"]), .obj(["code": "search-type"])]),
            "searchParam": .array(
                PatientSearch.parameters.map { param in
                    .obj([
                        "name": .string(param.name), "type": .string(param.type), "documentation": .string(param.doc),
                    ])
                }),
        ])
    }

    package static var provenance: ExactJSON {
        .obj([
            "type": "Provenance",
            "interaction": .array([.obj(["code": "search-type"])]),
            "searchParam": .array([
                .obj([
                    "name": "target", "type": "reference",
                    "documentation": "Observation/ID: the Provenance of the batch it was accepted in",
                ])
            ]),
        ])
    }

    package static var device: ExactJSON {
        .obj([
            "type": "Device",
            "supportedProfile": .array([.string(FHIRCodes.phdDeviceProfile), .string(FHIRCodes.phgDeviceProfile)]),
            "interaction": .array([.obj(["code": "read"]), .obj(["code": "search-type"])]),
        ])
    }
}
