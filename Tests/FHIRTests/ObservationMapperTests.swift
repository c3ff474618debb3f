import Foundation
import Provenance
import Testing

@testable import FHIR

@Suite struct ObservationMapperTests {
    func map(_ reading: Reading) -> [FHIRResource] {
        ObservationMapper.observations(for: reading, gatewayDeviceID: Fixture.gatewayDeviceID)
    }

    /// The whole Observation of a clean cuff reading, checked field by field against the PHD IG's
    /// compound-numeric-blood-pressure example: codes, UCUM units, the gateway and coincident-timestamp extensions,
    /// the conditional-create identifier, the local time with its offset, and 120.5 written as 120.5.
    @Test func bloodPressureIsACompoundNumericObservationWithExactValues() throws {
        let reading = Fixture.bloodPressure()
        let resources = map(reading)
        Fixture.dump(resources, as: "bp")
        #expect(resources.map(\.resourceType) == ["Observation", "Observation"])
        let id = try #require(reading.identity).hex
        let coin = resources[1].id
        #expect(coin.hasPrefix("coin-"))
        #expect(resources[0].id == id)
        #expect(
            resources[0].json.prettyText == #"""
                {
                  "resourceType": "Observation",
                  "id": "\#(id)",
                  "meta": {
                    "profile": [
                      "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"
                    ]
                  },
                  "extension": [
                    {
                      "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
                      "valueReference": {
                        "reference": "Device/phg-gw-home-1"
                      }
                    },
                    {
                      "url": "http://hl7.org/fhir/uv/phd/StructureDefinition/CoincidentTimeStampReference",
                      "valueReference": {
                        "reference": "Observation/\#(coin)"
                      }
                    }
                  ],
                  "identifier": [
                    {
                      "system": "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBaseObservation",
                      "value": "\#(id)"
                    }
                  ],
                  "status": "final",
                  "category": [
                    {
                      "coding": [
                        {
                          "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                          "code": "vital-signs",
                          "display": "Vital Signs"
                        }
                      ],
                      "text": "Vital Signs"
                    },
                    {
                      "coding": [
                        {
                          "system": "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories",
                          "code": "phd",
                          "display": "PHD generated Observation"
                        }
                      ]
                    }
                  ],
                  "code": {
                    "coding": [
                      {
                        "system": "urn:iso:std:iso:11073:10101",
                        "code": "150020",
                        "display": "MDC_PRESS_BLD_NONINV"
                      },
                      {
                        "system": "http://loinc.org",
                        "code": "85354-9",
                        "display": "Blood pressure panel with all children optional"
                      }
                    ],
                    "text": "Blood pressure"
                  },
                  "subject": {
                    "reference": "Patient/alice"
                  },
                  "effectiveDateTime": "2026-11-18T08:30:00+09:00",
                  "device": {
                    "reference": "Device/phd-001BC50000000417"
                  },
                  "component": [
                    {
                      "code": {
                        "coding": [
                          {
                            "system": "urn:iso:std:iso:11073:10101",
                            "code": "150021",
                            "display": "MDC_PRESS_BLD_NONINV_SYS"
                          },
                          {
                            "system": "http://loinc.org",
                            "code": "8480-6",
                            "display": "Systolic blood pressure"
                          }
                        ],
                        "text": "Systolic blood pressure"
                      },
                      "valueQuantity": {
                        "value": 120.5,
                        "unit": "mmHg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mm[Hg]"
                      }
                    },
                    {
                      "code": {
                        "coding": [
                          {
                            "system": "urn:iso:std:iso:11073:10101",
                            "code": "150022",
                            "display": "MDC_PRESS_BLD_NONINV_DIA"
                          },
                          {
                            "system": "http://loinc.org",
                            "code": "8462-4",
                            "display": "Diastolic blood pressure"
                          }
                        ],
                        "text": "Diastolic blood pressure"
                      },
                      "valueQuantity": {
                        "value": 80,
                        "unit": "mmHg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mm[Hg]"
                      }
                    },
                    {
                      "code": {
                        "coding": [
                          {
                            "system": "urn:iso:std:iso:11073:10101",
                            "code": "150023",
                            "display": "MDC_PRESS_BLD_NONINV_MEAN"
                          },
                          {
                            "system": "http://loinc.org",
                            "code": "8478-0",
                            "display": "Mean blood pressure"
                          }
                        ],
                        "text": "Mean blood pressure"
                      },
                      "valueQuantity": {
                        "value": 93.5,
                        "unit": "mmHg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mm[Hg]"
                      }
                    }
                  ]
                }
                """#)
        #expect(resources[0].text.contains(#""value":120.5,"#))
    }

    /// A device timestamp always comes with its coincident timestamp: the gateway's time and the device's at the
    /// same moment. Here the clocks agreed, so the device time was kept.
    @Test func aKeptDeviceTimeStillHasItsCoincidentTimestamp() throws {
        let coin = try #require(map(Fixture.bloodPressure()).first { $0.id.hasPrefix("coin-") }?.json)
        #expect(coin["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.coincidentTimeStampProfile)
        #expect(coin["code"]?["coding"]?[0]?["code"]?.stringValue == "67975")
        #expect(coin["subject"]?["reference"]?.stringValue == "Device/phd-001BC50000000417")
        #expect(coin["device"]?["reference"]?.stringValue == "Device/phg-gw-home-1")
        #expect(coin["effectiveDateTime"]?.stringValue == "2026-11-18T08:29:55+09:00")
        #expect(coin["valueDateTime"]?.stringValue == "2026-11-18T08:29:55+09:00")
    }

    /// A cuff running 10 minutes fast: its 08:40:00 stamp becomes 08:30:00 on the gateway's timeline, and the
    /// coincident timestamp shows why (gateway 08:35:05 while the device read 08:45:05).
    @Test func aMappedTimeShowsTheCorrectionInTheCoincidentTimestamp() throws {
        let resources = map(Fixture.bloodPressure(time: Fixture.mappedTime()))
        Fixture.dump(resources, as: "bp-mapped")
        let main = resources[0].json
        #expect(main["effectiveDateTime"]?.stringValue == "2026-11-18T08:30:00+09:00")
        let coin = try #require(resources.first { $0.id.hasPrefix("coin-") })
        #expect(main["extension"]?[1]?["valueReference"]?["reference"]?.stringValue == coin.reference)
        #expect(coin.json["effectiveDateTime"]?.stringValue == "2026-11-18T08:35:05+09:00")
        #expect(coin.json["valueDateTime"]?.stringValue == "2026-11-18T08:45:05+09:00")
        let note = try #require(coin.json["note"]?[0]?["text"]?.stringValue)
        #expect(note == "Device clock minus gateway clock: +600 s.")
        // What became of this reading's timestamp is the reading's own (the comparison is shared by its connection).
        #expect(main["note"]?[0]?["text"]?.stringValue?.contains("mapped to the gateway timeline by -600 s") == true)
        // Readings of one connection share one coincident timestamp.
        var second = Fixture.bloodPressure(time: Fixture.mappedTime(), payload: [0x1E, 0xB6, 0xF4])
        second.time.deviceTimestamp?.minute = 41
        #expect(map(second).first { $0.id.hasPrefix("coin-") }?.id == coin.id)
        #expect(second.identity != Fixture.bloodPressure(time: Fixture.mappedTime()).identity)
    }

    @Test func aDeviceThatCouldNotBeAskedForItsTimeGetsATimeFault() throws {
        var time = Fixture.keptTime()
        time.clock = nil
        time.clockOffsetMicros = nil
        Fixture.dump(map(Fixture.bloodPressure(time: time)), as: "bp-timefault")
        let coin = try #require(map(Fixture.bloodPressure(time: time)).first { $0.id.hasPrefix("coin-") }?.json)
        #expect(coin["valueDateTime"] == nil)
        #expect(coin["dataAbsentReason"]?["coding"]?[0]?["code"]?.stringValue == "unknown")
        #expect(coin["effectiveDateTime"]?.stringValue == "2026-11-18T08:30:07+09:00")
    }

    @Test func aRefusedTimestampIsSaidAndMakesTheReadingDoubtful() throws {
        var time = Fixture.keptTime()
        time.decision = .refused(reason: "device clock reset to 2000")
        time.effectiveMicros = time.receivedMicros
        Fixture.dump(map(Fixture.bloodPressure(flags: [.timeRefused], time: time)), as: "bp-refused")
        let main = map(Fixture.bloodPressure(flags: [.timeRefused], time: time))[0].json
        #expect(main["effectiveDateTime"]?.stringValue == "2026-11-18T08:30:07+09:00")
        #expect(main["interpretation"]?[0]?["coding"]?[0]?["code"]?.stringValue == "questionable")
        #expect(main["interpretation"]?[0]?["text"]?.stringValue == "Doubtful: time_refused")
        #expect(main["note"]?[0]?["text"]?.stringValue?.contains("device clock reset to 2000") == true)
    }

    /// NaN, NRes and ±INFINITY are not numbers: each becomes a dataAbsentReason and no value is written.
    @Test func specialValuesBecomeDataAbsentReasonsNeverValues() throws {
        let reading = Fixture.bloodPressure(
            systolic: .absent(.notANumber), diastolic: .absent(.notAtThisResolution), mean: .absent(.positiveInfinity),
            flags: [.valueAbsent])
        Fixture.dump(map(reading), as: "bp-nan")
        let main = map(reading)[0].json
        let components = try #require(main["component"]?.arrayValue)
        #expect(components.map { $0["valueQuantity"] } == [nil, nil, nil])
        #expect(
            components.map { $0["dataAbsentReason"]?["coding"]?[0]?["code"]?.stringValue } == [
                "not-a-number", "error", "positive-infinity",
            ])
        #expect(components.map { $0["dataAbsentReason"]?["text"]?.stringValue } == ["NaN", "NRes", "+INFINITY"])
        #expect(components[0]["dataAbsentReason"]?["coding"]?[0]?["system"]?.stringValue == FHIRCodes.dataAbsentReason)
        #expect(main["interpretation"] == nil)  // a missing value is said by dataAbsentReason, not as doubt
        var heart = Fixture.heartRate(rr: [])
        heart.components = [ReadingComponent(metric: .heartRate, value: .absent(.negativeInfinity), unit: "/min")]
        let hr = map(heart)[0].json
        #expect(hr["valueQuantity"] == nil)
        #expect(hr["dataAbsentReason"]?["coding"]?[0]?["code"]?.stringValue == "negative-infinity")
    }

    /// Control solution and simulated devices are test data: HTEST on every resource made from the reading.
    @Test func testDataIsLabelledHTEST() throws {
        let resources = map(
            Fixture.glucose(sampleType: "control_solution", location: "control_solution", flags: [.testData]))
        Fixture.dump(resources, as: "glucose-test")
        #expect(resources.count == 4)
        for resource in resources {
            let security = try #require(resource.json["meta"]?["security"]?[0])
            #expect(security["system"]?.stringValue == "http://terminology.hl7.org/CodeSystem/v3-ActReason")
            #expect(security["code"]?.stringValue == "HTEST")
        }
        #expect(map(Fixture.glucose())[0].json["meta"]?["security"] == nil)
    }

    /// A doubtful BP reading stays doubtful: the status bits as a PhdBitsEnumerationObservation derived from the
    /// pressure (8410608.N, Y), and `questionable` on the pressure itself with the reasons.
    @Test func doubtfulBloodPressureHasABitsEnumerationObservation() throws {
        let reading = Fixture.bloodPressure(
            flags: [.bodyMovement, .irregularPulse, .improperPosition], rawStatus: 0x0001 | 0x0004 | 0x0020)
        let resources = map(reading)
        Fixture.dump(resources, as: "bp-doubtful")
        let identity = try #require(reading.identity)
        let main = resources[0].json
        #expect(
            main["interpretation"]?[0]?["coding"]?[0]?["system"]?.stringValue
                == "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status")
        #expect(
            main["interpretation"]?[0]?["text"]?.stringValue
                == "Doubtful: body_movement, irregular_pulse, improper_position")

        let status = try #require(resources.first { $0.id.hasPrefix("bpstatus-") })
        #expect(status.id == "bpstatus-" + identity.hex.prefix(48))
        #expect(
            status.json["meta"]?["profile"]?[0]?.stringValue
                == "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdBitsEnumerationObservation")
        #expect(status.json["code"]?["coding"]?[0]?["code"]?.stringValue == "8410608")
        #expect(status.json["identifier"]?[0]?["value"]?.stringValue == identity.hex + "-8410608")
        #expect(status.json["derivedFrom"]?[0]?["reference"]?.stringValue == "Observation/" + identity.hex)
        #expect(status.json["effectiveDateTime"]?.stringValue == "2026-11-18T08:30:00+09:00")
        #expect(status.json["valueQuantity"] == nil)
        let bits = try #require(status.json["component"]?.arrayValue)
        #expect(
            bits.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == ["8410608.0", "8410608.2", "8410608.5"])
        #expect(
            bits.map { $0["code"]?["coding"]?[0]?["display"]?.stringValue } == [
                "body-movement", "irregular-pulse", "improper-body-position",
            ])
        #expect(bits.first?["code"]?["text"]?.stringValue == "Too much body movement")
        #expect(
            bits.allSatisfy {
                $0["code"]?["coding"]?[0]?["system"]?.stringValue == "http://terminology.hl7.org/CodeSystem/ASN1ToHL7"
            })
        // PhdBitsEnumerationObservation: `component.value[x] only boolean`.
        #expect(bits.allSatisfy { $0["valueBoolean"] == .bool(true) && $0["valueCodeableConcept"] == nil })

        // The pulse-rate range bits: 01 = over the limit (.3), 10 = under it (.4).
        let over = map(Fixture.bloodPressure(flags: [.pulseRateOutOfRange], rawStatus: 0x0008)).first {
            $0.id.hasPrefix("bpstatus-")
        }
        #expect(over?.json["component"]?[0]?["code"]?["coding"]?[0]?["code"]?.stringValue == "8410608.3")
        let under = map(Fixture.bloodPressure(flags: [.pulseRateOutOfRange], rawStatus: 0x0010)).first {
            $0.id.hasPrefix("bpstatus-")
        }
        #expect(under?.json["component"]?[0]?["code"]?["coding"]?[0]?["code"]?.stringValue == "8410608.4")
        // A clean status word (or none) adds nothing; only-reserved bits leave the doubt on the pressure alone.
        #expect(map(Fixture.bloodPressure(rawStatus: 0)).count == 2)
        let reserved = map(Fixture.bloodPressure(flags: [.unknownStatus], rawStatus: 0x0400))
        #expect(reserved.count == 2)
        #expect(reserved[0].json["interpretation"]?[0]?["text"]?.stringValue == "Doubtful: unknown_status")
    }

    /// The cuff's pulse rate is its own numeric Observation (MDC 149546 + LOINC 8867-4); it shares the cuff's doubt.
    /// Where a strap is worn becomes the Observation's bodySite (SNOMED CT), and the energy it counted a component
    /// beside the RR intervals; a location the specification calls "other" keeps its text only.
    @Test func heartRateCarriesItsBodySiteAndEnergyExpended() throws {
        var reading = Fixture.heartRate(rr: [1024])
        reading.context.bodySensorLocation = "chest"
        reading.components.append(ReadingComponent(metric: .energyExpended, value: Fixture.q(120), unit: "kJ"))
        let main = map(reading)[0].json
        #expect(main["bodySite"]?["coding"]?[0]?["system"]?.stringValue == FHIRCodes.snomed)
        #expect(main["bodySite"]?["coding"]?[0]?["code"]?.stringValue == "51185008")
        let components = main["component"]?.arrayValue ?? []
        #expect(components.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == ["147240", "41981-2"])
        #expect(components.last?["valueQuantity"]?["value"]?.numberText == "120")
        #expect(components.last?["valueQuantity"]?["code"]?.stringValue == "kJ")
        reading.context.bodySensorLocation = "other"
        #expect(map(reading)[0].json["bodySite"]?["coding"] == nil)
        #expect(map(reading)[0].json["bodySite"]?["text"]?.stringValue == "other")
    }

    /// A thermometer's reading is a numeric vital sign: MDC_TEMP_BODY + LOINC 8310-5, in UCUM Cel or [degF] exactly as
    /// sent, where it was taken as the bodySite, and its device a thermometer (MDC_DEV_SPEC_PROFILE_TEMP).
    @Test func bodyTemperatureIsANumericVitalSignWithItsSite() throws {
        var reading = Fixture.pulse()
        reading.kind = .bodyTemperature
        reading.components = [ReadingComponent(metric: .bodyTemperature, value: Fixture.q(9824, -2), unit: "[degF]")]
        reading.context.bodySensorLocation = "tympanum"
        let main = map(reading)[0].json
        #expect(main["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.numericProfile)
        #expect(main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["150364", "8310-5"])
        #expect(
            main["category"]?.arrayValue?.contains { $0["coding"]?[0]?["code"]?.stringValue == "vital-signs" } == true)
        #expect(main["valueQuantity"]?["value"]?.numberText == "98.24")
        #expect(main["valueQuantity"]?["code"]?.stringValue == "[degF]")
        #expect(main["valueQuantity"]?["unit"]?.stringValue == "°F")
        #expect(main["bodySite"]?["coding"]?[0]?["code"]?.stringValue == "42859004")
        let device = DeviceMapper.phdDevice(reading.device, kinds: [.bodyTemperature]).json
        #expect(device.prettyText.contains("MDC_DEV_SPEC_PROFILE_TEMP"))
    }

    /// A pulse oximeter's pair: SpO2 (MDC_PULS_OXIM_SAT_O2, LOINC 59408-5 and 2708-6, %) with its pulse amplitude index
    /// as a component, and its pulse rate (MDC_PULS_OXIM_PULS_RATE + 8867-4); the device a pulse oximeter.
    @Test func oxygenSaturationAndItsPulseRateAreNumericVitalSigns() throws {
        var saturation = Fixture.pulse()
        saturation.kind = .oxygenSaturation
        saturation.components = [
            ReadingComponent(metric: .oxygenSaturation, value: Fixture.q(97), unit: "%"),
            ReadingComponent(metric: .pulseAmplitudeIndex, value: Fixture.q(42, -1), unit: "%"),
        ]
        let main = map(saturation)[0].json
        #expect(
            main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["150456", "59408-5", "2708-6"])
        #expect(main["valueQuantity"]?["value"]?.numberText == "97")
        #expect(main["valueQuantity"]?["code"]?.stringValue == "%")
        #expect(main["component"]?[0]?["code"]?["coding"]?[0]?["code"]?.stringValue == "150448")
        #expect(main["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "4.2")
        var pulse = Fixture.pulse()
        pulse.kind = .oximetryPulseRate
        pulse.components = [ReadingComponent(metric: .oximetryPulseRate, value: Fixture.q(64), unit: "/min")]
        #expect(
            map(pulse)[0].json["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["149530", "8867-4"])
        let device = DeviceMapper.phdDevice(pulse.device, kinds: [.oxygenSaturation, .oximetryPulseRate]).json
        #expect(device.prettyText.components(separatedBy: "MDC_DEV_SPEC_PROFILE_PULS_OXIM").count == 2)  // once
    }

    /// A scale's weight (MDC_MASS_BODY_ACTUAL + 29463-7, kg exactly as weighed) and a body-composition analysis: body fat
    /// (MDC_BODY_FAT + 41982-0) with its other values as components, impedance by its text alone (no code exists).
    @Test func weightAndBodyCompositionAreNumericObservations() throws {
        var weight = Fixture.pulse()
        weight.kind = .bodyWeight
        weight.components = [ReadingComponent(metric: .bodyWeight, value: Fixture.q(62_300, -3), unit: "kg")]
        let main = map(weight)[0].json
        #expect(main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["188736", "29463-7"])
        #expect(main["valueQuantity"]?["value"]?.numberText == "62.300")
        var analysis = Fixture.pulse()
        analysis.kind = .bodyComposition
        analysis.components = [
            ReadingComponent(metric: .bodyFat, value: Fixture.q(251, -1), unit: "%"),
            ReadingComponent(metric: .impedance, value: Fixture.q(5123, -1), unit: "Ohm"),
            ReadingComponent(metric: .muscleMass, value: Fixture.q(41_000, -3), unit: "kg"),
        ]
        let body = map(analysis)[0].json
        #expect(body["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["188748", "41982-0"])
        #expect(
            body["category"]?.arrayValue?.contains { $0["coding"]?[0]?["code"]?.stringValue == "vital-signs" } != true)
        let components = body["component"]?.arrayValue ?? []
        #expect(components.count == 2)
        #expect(
            components[0]["code"]?["coding"] == nil && components[0]["code"]?["text"]?.stringValue == "Body impedance")
        #expect(components[1]["code"]?["coding"]?[0]?["code"]?.stringValue == "188776")
    }

    @Test func pulseRateIsANumericObservation() throws {
        let resources = map(Fixture.pulse(flags: [.bodyMovement]))
        let main = resources[0].json
        #expect(main["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.numericProfile)
        #expect(main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["149546", "8867-4"])
        #expect(main["valueQuantity"]?["value"]?.numberText == "72")
        #expect(main["valueQuantity"]?["code"]?.stringValue == "/min")
        #expect(main["interpretation"]?[0]?["text"]?.stringValue == "Doubtful: body_movement")
        #expect(!resources.contains { $0.id.hasPrefix("bpstatus-") })
    }

    /// Glucose: the sample type's MDC code (capillary plasma 160188) with LOINC by specimen and unit, the value
    /// shown in mg/dL by moving the decimal point (0.00095 kg/L = 95 mg/dL exactly), and the meal and sample
    /// location as coded Observations derived from it, as in the IG's meal-context example.
    @Test func glucoseHasItsSampleTypeCodeAndItsContext() throws {
        let reading = Fixture.glucose()
        let resources = map(reading)
        Fixture.dump(resources, as: "glucose")
        let identity = try #require(reading.identity)
        let main = resources[0].json
        #expect(main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["160188", "41653-7"])
        #expect(main["code"]?["coding"]?[0]?["display"]?.stringValue == "MDC_CONC_GLU_CAPILLARY_PLASMA")
        #expect(main["valueQuantity"]?["value"]?.numberText == "95")
        #expect(main["valueQuantity"]?["code"]?.stringValue == "mg/dL")
        #expect(main["category"]?.arrayValue?.count == 1)  // PHD only: glucose is not a vital sign
        // no System ID: hashed key
        #expect(main["device"]?["reference"]?.stringValue?.hasPrefix("Device/phd-x") == true)

        let meal = try #require(resources.first { $0.id.hasPrefix("meal-") }?.json)
        #expect(meal["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.codedProfile)
        #expect(meal["code"]?["coding"]?[0]?["code"]?.stringValue == "8417864")
        #expect(meal["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue == "8417872")
        #expect(
            meal["valueCodeableConcept"]?["coding"]?[0]?["display"]?.stringValue == "MDC_CTXT_GLU_MEAL_POSTPRANDIAL")
        #expect(meal["derivedFrom"]?[0]?["reference"]?.stringValue == "Observation/" + identity.hex)
        #expect(meal["identifier"]?[0]?["value"]?.stringValue == identity.hex + "-8417864")
        let location = try #require(resources.first { $0.id.hasPrefix("location-") }?.json)
        #expect(location["code"]?["coding"]?[0]?["code"]?.stringValue == "8417844")
        #expect(location["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue == "8417848")

        let molar = map(
            Fixture.glucose(
                value: Fixture.q(55, -4), unit: "mol/L", sampleType: "capillary_whole_blood", meal: "fasting",
                location: "not_available"))
        #expect(molar[0].json["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["160184", "14743-9"])
        #expect(molar[0].json["valueQuantity"]?["value"]?.numberText == "5.5")
        #expect(molar[0].json["valueQuantity"]?["code"]?.stringValue == "mmol/L")
        #expect(
            molar.first { $0.id.hasPrefix("meal-") }?.json["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue
                == "8417876")
        #expect(!molar.contains { $0.id.hasPrefix("location-") })  // "not available" reports nothing
        let venous = map(Fixture.glucose(sampleType: "venous_plasma"))[0].json
        #expect(venous["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["160196", "2345-7"])
    }

    /// The rest of a glucose context (tester, health, carbohydrate, medication, exercise, HbA1c) as Observations
    /// derived from the glucose one, with IEEE 11073-10417 codes and the units a person reads: 0.045 kg of
    /// carbohydrate is 45 g, 0.000012 kg of insulin 12 mg, and an exercise whose duration overran the field is "≥".
    @Test func glucoseContextBeyondTheMealReachesFHIR() throws {
        var reading = Fixture.glucoseWithFullContext()
        let resources = map(reading)
        let identity = try #require(reading.identity)
        func derived(_ kind: String) throws -> ExactJSON {
            try #require(resources.first { $0.id.hasPrefix(kind + "-") }?.json)
        }

        let tester = try derived("tester")
        #expect(tester["code"]?["coding"]?[0]?["code"]?.stringValue == "8417884")
        #expect(tester["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue == "8417892")
        #expect(try derived("health")["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue == "8417836")
        #expect(try derived("meal")["valueCodeableConcept"]?["coding"]?[0]?["code"]?.stringValue == "8417869")

        let carbohydrate = try derived("carbohydrate")
        #expect(carbohydrate["meta"]?["profile"]?[0]?.stringValue == FHIRCodes.numericProfile)
        #expect(carbohydrate["code"]?["coding"]?[0]?["code"]?.stringValue == "8417772")
        #expect(carbohydrate["valueQuantity"]?["value"]?.numberText == "45")
        #expect(carbohydrate["valueQuantity"]?["code"]?.stringValue == "g")
        #expect(carbohydrate["derivedFrom"]?[0]?["reference"]?.stringValue == "Observation/" + identity.hex)
        #expect(carbohydrate["identifier"]?[0]?["value"]?.stringValue == identity.hex + "-8417772")

        let medication = try derived("medication")
        #expect(medication["code"]?["coding"]?[0]?["code"]?.stringValue == "8417812")
        #expect(medication["valueQuantity"]?["value"]?.numberText == "12")
        #expect(medication["valueQuantity"]?["code"]?.stringValue == "mg")

        let exercise = try derived("exercise")
        #expect(exercise["code"]?["coding"]?[0]?["code"]?.stringValue == "8417760")
        #expect(exercise["valueQuantity"]?["value"]?.numberText == "40")
        #expect(exercise["valueQuantity"]?["code"]?.stringValue == "%")
        #expect(exercise["component"]?[0]?["code"]?["coding"]?[0]?["code"]?.stringValue == "68185")
        #expect(exercise["component"]?[0]?["valueQuantity"]?["value"]?.numberText == "65535")
        #expect(exercise["component"]?[0]?["valueQuantity"]?["comparator"]?.stringValue == ">=")

        let hba1c = try derived("hba1c")
        #expect(hba1c["code"]?["coding"]?[0]?["code"]?.stringValue == "160220")
        #expect(hba1c["valueQuantity"]?["value"]?.numberText == "6.2")

        // Liters of medication are millilitres; "not_available" tester and health report nothing.
        reading.context.glucose?.medicationUnit = "L"
        reading.context.glucose?.tester = "not_available"
        reading.context.glucose?.health = "not_available"
        let liters = map(reading)
        #expect(liters.first { $0.id.hasPrefix("medication-") }?.json["valueQuantity"]?["code"]?.stringValue == "mL")
        #expect(liters.first { $0.id.hasPrefix("medication-") }?.json["valueQuantity"]?["value"]?.numberText == "0.012")
        #expect(!liters.contains { $0.id.hasPrefix("tester-") || $0.id.hasPrefix("health-") })
        // Every derived Observation has an id of its own.
        #expect(Set(resources.map(\.id)).count == resources.count)
    }

    @Test func glucoseSensorAnnunciationsAreABitsEnumeration() throws {
        let resources = map(Fixture.glucose(rawStatus: 0x0008 | 0x0020, flags: [.sensorAnnunciation]))
        let status = try #require(resources.first { $0.id.hasPrefix("glustatus-") }?.json)
        #expect(status["code"]?["coding"]?[0]?["code"]?.stringValue == "8417752")
        #expect(
            status["component"]?.arrayValue?.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == [
                "8417752.3", "8417752.5",
            ])
        #expect(resources[0].json["interpretation"]?[0]?["text"]?.stringValue == "Doubtful: sensor_annunciation")
        // BLE's "time fault" (bit 11) is not the IG's 8417752.11: it stays a doubt on the glucose, not a wrong code.
        Fixture.dump(resources, as: "glucose-status")
        let timeFault = map(Fixture.glucose(rawStatus: 0x0800, flags: [.sensorAnnunciation]))
        #expect(!timeFault.contains { $0.id.hasPrefix("glustatus-") })
        #expect(timeFault[0].json["interpretation"] != nil)
    }

    /// Heart rate (MDC 147842 + LOINC 8867-4) at the receive time, with its RR intervals as components in beat
    /// order, exact (1024/1024 s = 1.0000000000 s); no device timestamp, so no coincident timestamp.
    @Test func heartRateCarriesItsRRIntervals() throws {
        let resources = map(Fixture.heartRate())
        Fixture.dump(resources, as: "hr")
        #expect(resources.count == 1)
        let main = resources[0].json
        #expect(main["code"]?["coding"]?.arrayValue?.map { $0["code"]?.stringValue } == ["147842", "8867-4"])
        #expect(main["effectiveDateTime"]?.stringValue == "2026-11-18T08:30:00.25+09:00")
        #expect(main["valueQuantity"]?["value"]?.numberText == "64")
        #expect(main["extension"]?.arrayValue?.count == 1)  // gateway only
        let rr = try #require(main["component"]?.arrayValue)
        #expect(rr.map { $0["code"]?["coding"]?[0]?["code"]?.stringValue } == ["147240", "147240"])
        #expect(rr.map { $0["valueQuantity"]?["value"]?.numberText } == ["1.0000000000", "0.9599609375"])
        #expect(rr[0]["valueQuantity"]?["code"]?.stringValue == "s")
    }

    /// Same reading, same resources: resent on a later connection or heard by another gateway, the ids, the
    /// identifier and every byte of the JSON are the same, so an upload updates rather than duplicates.
    @Test func mappingIsIdempotent() throws {
        let reading = Fixture.bloodPressure(flags: [.bodyMovement], rawStatus: 1)
        #expect(map(reading) == map(reading))
        var resent = reading
        resent.device.link = "l2cap:hci1"
        resent.gateway = GatewayRecord(id: "gw-other", softwareVersion: "1.0")
        resent.time.receivedMicros += 3_600_000_000
        let first = map(reading)
        let again = ObservationMapper.observations(for: resent, gatewayDeviceID: Fixture.gatewayDeviceID)
        #expect(first.map(\.id) == again.map(\.id))
        #expect(first.map { $0.json["identifier"] } == again.map { $0.json["identifier"] })
        #expect(Set(first.map(\.id)).count == first.count)
        #expect(
            first.allSatisfy {
                $0.id.count <= 64
                    && $0.id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
            })
    }

    @Test func anUnmappedReadingIsHeldNotGuessed() {
        #expect(map(Fixture.bloodPressure(subject: nil)).isEmpty)
    }
}
