import Foundation
import Testing
import WardenCore
import WardenDefense

/// Defense's events keep the JSON keys the API and dashboard show, written out here by hand.
@Suite("Defense's events")
struct DefenseEventsTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(
            id: 1,
            time: Date(),
            type: type,
            source: "defense",
            subject: "203.0.113.5",
            payload: JSONValue.parse(json)!
        )
    }

    @Test func banAndThreatPayloadsKeepTheirWireKeys() throws {
        let refused = #"{"reason":"loopback","wanted_by":"scenario"}"#
        #expect(try #require(event("ban.refused", refused).decode(BanRefused.self)).wantedBy == "scenario")
        #expect(try #require(event("ban.refused", refused).decode(BanRefused.self)).json.jsonText == refused)
        let seen = #"{"adjusted_score":0.4,"banned":false,"lines":["x"],"scenarios":["ssh-bruteforce"],"score":1.5}"#
        let threat = try #require(event("threat.detected", seen).decode(ThreatSeen.self))
        #expect(threat.adjustedScore == 0.4 && threat.banned == false && threat.analyst == nil)
        #expect(threat.json.jsonText == seen)
        #expect(event("ban.expired", #"{"by":"alice"}"#).decode(BanLifted.self) == nil, "another type")
        #expect(event("ban.lifted", #"{"by":"alice"}"#).decode(BanLifted.self)?.by == "alice")
    }
}
