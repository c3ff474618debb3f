import Foundation
import Provenance
import Testing

@testable import FHIR

@Suite struct FHIRJSONTests {
    @Test func numbersAreWrittenAsTheirExactText() {
        let json = ExactJSON.obj([
            "a": .number(DecimalQuantity(mantissa: 1205, exponent: -1).description),
            "b": .number(DecimalQuantity(mantissa: 20, exponent: -1).description),
            "c": .number(DecimalQuantity(mantissa: 90, exponent: -5).description),
            "d": .integer(-3), "e": nil, "f": .bool(true), "g": .null,
        ])
        #expect(json.text == #"{"a":120.5,"b":2.0,"c":0.00090,"d":-3,"f":true,"g":null}"#)
    }

    @Test func stringsAreEscapedAndOrderIsKept() throws {
        let json = ExactJSON.obj(["z": "quote \" back \\ tab \t nl \n bell \u{07} ünï", "a": .array(["x", "y"])])
        #expect(json.text == #"{"z":"quote \" back \\ tab \t nl \n bell \u0007 ünï","a":["x","y"]}"#)
        // Whatever we write, a standard parser reads back the same strings.
        let parsed = try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [String: Any]
        #expect(parsed?["z"] as? String == "quote \" back \\ tab \t nl \n bell \u{07} ünï")
        #expect(ExactJSON.list([]) == nil)
    }

    @Test func prettyTextIsIndentedJSON() throws {
        let json = ExactJSON.obj(["a": .array([.obj(["b": .number("1.50")])]), "c": .object([])])
        #expect(json.prettyText == "{\n  \"a\": [\n    {\n      \"b\": 1.50\n    }\n  ],\n  \"c\": {}\n}")
        #expect(try JSONSerialization.jsonObject(with: Data(json.prettyText.utf8)) is [String: Any])
    }

    @Test func dateTimesCarryTheLocalOffset() {
        #expect(FHIRTime.dateTime(utcMicros: Fixture.at0830, offsetSeconds: 32_400) == "2026-11-18T08:30:00+09:00")
        #expect(FHIRTime.dateTime(utcMicros: Fixture.at0830, offsetSeconds: -18_000) == "2026-11-17T18:30:00-05:00")
        #expect(
            FHIRTime.dateTime(utcMicros: Fixture.at0830 + 250_000, offsetSeconds: 20_700)
                == "2026-11-18T05:15:00.25+05:45")
        #expect(FHIRTime.instant(utcMicros: Fixture.at0830) == "2026-11-17T23:30:00Z")
        #expect(FHIRTime.instant(utcMicros: -1) == "1969-12-31T23:59:59.999999Z")
        // An offset with seconds (local mean time) cannot be written: the same instant in UTC instead.
        #expect(FHIRTime.dateTime(utcMicros: 0, offsetSeconds: 33_539) == "1970-01-01T00:00:00Z")
    }
}
