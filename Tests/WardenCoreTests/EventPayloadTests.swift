import Foundation
import Testing
import WardenCore

/// Typed payloads are the wire format of events: the JSON keys below are what the API, the
/// dashboard and stored events have always shown, written out here by hand.
@Suite("Typed event payloads")
struct EventPayloadTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(id: 1, time: Date(), type: type, source: "t", subject: "s", payload: JSONValue.parse(json)!)
    }

    @Test func incidentPayloadsKeepTheirWireKeys() throws {
        let resolved = try #require(
            event("incident.resolved", #"{"id":"inc-1","mttr_ms":1234,"how":"restart api brought health back"}"#)
                .decode(IncidentResolved.self)
        )
        #expect(resolved == IncidentResolved(id: "inc-1", mttrMs: 1234, how: "restart api brought health back"))
        #expect(resolved.json.jsonText == #"{"how":"restart api brought health back","id":"inc-1","mttr_ms":1234}"#)
        let finished = ActionFinished(id: "i", action: "restart api", outcome: "dry_run")
        #expect(finished.json.jsonText == #"{"action":"restart api","id":"i","outcome":"dry_run"}"#, "nil is left out")
        #expect(EventType.incidentOpened == "incident.opened")
        #expect(EventType.incidentAwaitingApproval == "incident.awaiting_approval")
        #expect(EventType.incidentDryRun == "incident.dry_run")
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
    }

    @Test func theWrongTypeOrShapeDecodesToNil() {
        #expect(event("ban.lifted", #"{"by":"alice"}"#).decode(BanLifted.self) == BanLifted(by: "alice"))
        #expect(event("ban.expired", #"{"by":"alice"}"#).decode(BanLifted.self) == nil)
        // Anyone with an operator token can post an event of any type: a bad payload is no payload.
        #expect(event("incident.opened", #"{"id":7}"#).decode(IncidentOpened.self) == nil)
        #expect(event("incident.opened", #"[1,2]"#).decode(IncidentOpened.self) == nil)
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

    @Test func defenseAndAuditPayloadsKeepTheirWireKeys() throws {
        let refused = BanRefused(reason: "loopback", wantedBy: "scenario")
        #expect(refused.json.jsonText == #"{"reason":"loopback","wanted_by":"scenario"}"#)
        let seen = ThreatSeen(
            score: 1.5,
            scenarios: ["ssh-bruteforce"],
            lines: ["x"],
            adjustedScore: 0.4,
            banned: false
        )
        #expect(
            seen.json.jsonText
                == #"{"adjusted_score":0.4,"banned":false,"lines":["x"],"scenarios":["ssh-bruteforce"],"score":1.5}"#
        )
        let auth = AuthFailures(
            remote: "others",
            failures: 3,
            refused: 1,
            unauthenticated: 0,
            addresses: 4,
            waitMs: 250
        )
        #expect(
            auth.json.jsonText
                == #"{"addresses":4,"failures":3,"refused":1,"remote":"others","result":"refused","unauthenticated":0,"wait_ms":250}"#
        )
        let request = AuditRequest(actor: "ops", method: "POST", path: "/v1/reload", status: 403, remote: "127.0.0.1")
        #expect(request.result == "refused")
        #expect(EventType.auditService("restart") == "audit.service.restart")
    }
}
