import Foundation
import Testing
import WardenCore

/// What other domains read of a monitor's score, from JSON written out here by hand.
@Suite("Typed event payloads")
struct EventPayloadTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(id: 1, time: Date(), type: type, source: "t", subject: "s", payload: JSONValue.parse(json)!)
    }

    @Test func aMonitorScoreIsReadFromAlertsClearsAndScores() throws {
        let json = #"""
            {"probability":0.93,"raw":4.5,"threshold":0.9,"at":"2026-11-30T08:00:00Z","model":"ensemble",
             "series":{"service.cpu{service=\"api\"}":{"value":97.5,"score":0.8}},"for":"2m","heal":"hot-cpu"}
            """#
        for type in ["monitor.alert", "monitor.cleared", "anomaly.scored"] {
            let s = try #require(MonitorScoreView(event(type, json)), "\(type)")
            #expect(s.probability == 0.93)
            #expect(s.series.keys.sorted() == ["service.cpu{service=\"api\"}"])
        }
        #expect(MonitorScoreView(event("monitor.trained", json)) == nil, "another type")
        #expect(MonitorScoreView(event("monitor.alert", #"{"probability":"high"}"#)) == nil, "another shape")
        #expect(MonitorScoreView(event("monitor.alert", #"{"probability":0.5}"#)) == nil, "no series")
    }
}
