import Foundation
import Testing
import WardenCore

@testable import WardenDetect

/// A monitor's events keep the JSON keys the API and dashboard show, written out here by hand.
@Suite("Monitor events")
struct MonitorEventsTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(id: 1, time: Date(), type: type, source: "monitor", subject: "m", payload: JSONValue.parse(json)!)
    }

    @Test func aMonitorScoreIsReadFromAlertsClearsAndScores() throws {
        let json = #"""
            {"probability":0.93,"raw":4.5,"threshold":0.9,"at":"2026-11-30T08:00:00Z","model":"ensemble",
             "series":{"service.cpu{service=\"api\"}":{"value":97.5,"score":0.8}},"for":"2m","heal":"hot-cpu"}
            """#
        for type in ["monitor.alert", "monitor.cleared", "anomaly.scored"] {
            let s = try #require(MonitorScored(event(type, json)), "\(type)")
            #expect(s.probability == 0.93)
            #expect(s.holdFor == "2m")
            #expect(s.heal == "hot-cpu")
            #expect(s.series["service.cpu{service=\"api\"}"] == .init(value: 97.5, score: 0.8))
        }
        #expect(MonitorScored(event("monitor.trained", json)) == nil, "another type")
        #expect(MonitorScored(event("monitor.alert", #"{"probability":"high"}"#)) == nil, "another shape")
        #expect(event("anomaly.scored", json).decode(MonitorScored.self) != nil)
        #expect(event("monitor.alert", json).decode(MonitorScored.self) == nil, "decode wants the payload's own type")
        // What healing reads of it, through Core's view.
        let view = try #require(MonitorScoreView(event("monitor.alert", json)))
        #expect(view.probability == 0.93)
        #expect(view.series.keys.sorted() == ["service.cpu{service=\"api\"}"])
        #expect(MonitorScoreView(event("monitor.trained", json)) == nil, "another type")
        #expect(MonitorScoreView(event("monitor.alert", #"{"probability":0.5}"#)) == nil, "no series")
    }

    @Test func aPayloadIsWrittenWithItsWireKeysAndOptionalsLeftOut() {
        let s = MonitorScored(probability: 0.5, raw: 1, threshold: 0.9, at: "t", series: [:], model: "m", holdFor: "5s")
        #expect(
            s.json.jsonText
                == #"{"at":"t","for":"5s","model":"m","probability":0.5,"raw":1,"series":{},"threshold":0.9}"#
        )
    }

    /// A calibrated monitor's payload carries its evidence beside the probability, and reads back.
    @Test func theEvidenceIsWrittenBesideTheProbability() throws {
        let s = MonitorScored(
            probability: 0.35,
            evidence: 0.9,
            raw: 2,
            threshold: 0.34,
            at: "t",
            series: [:],
            model: "m"
        )
        #expect(s.json["evidence"] == 0.9 && s.json["probability"] == 0.35)
        let back = try #require(MonitorScored(json: s.json))
        #expect(back.evidence == 0.9)
        let before = try #require(
            JSONValue.parse(#"{"probability":0.5,"raw":1,"threshold":0.9,"at":"t","series":{},"model":"m"}"#)
        )
        let old = try #require(MonitorScored(json: before), "a payload written before the evidence was added")
        #expect(old.evidence == nil)
    }

    @Test func nonFiniteNumbersSurviveAsText() throws {
        let s = MonitorScored(probability: 0.5, raw: .nan, threshold: .infinity, at: "t", series: [:], model: "m")
        let json = s.json
        #expect(json["raw"] == "nan")
        #expect(json["threshold"] == "inf")
        let back = try #require(MonitorScored(json: json))
        #expect(back.raw.isNaN)
        #expect(back.threshold == .infinity)
    }
}
