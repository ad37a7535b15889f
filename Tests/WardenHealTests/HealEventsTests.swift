import Foundation
import Testing
import WardenCore
import WardenHeal

/// Healing's events keep the JSON keys the API and dashboard show, written out here by hand.
@Suite("Healing's events")
struct HealEventsTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(id: 1, time: Date(), type: type, source: "heal", subject: "api", payload: JSONValue.parse(json)!)
    }

    @Test func incidentPayloadsKeepTheirWireKeys() throws {
        let text = #"{"how":"restart api brought health back","id":"inc-1","mttr_ms":1234}"#
        let resolved = try #require(event("incident.resolved", text).decode(IncidentResolved.self))
        #expect(resolved.id == "inc-1")
        #expect(resolved.mttrMs == 1234)
        #expect(resolved.json.jsonText == text)
        let finished = try #require(
            event("action.finished", #"{"action":"restart api","id":"i","outcome":"dry_run"}"#)
                .decode(ActionFinished.self)
        )
        #expect(finished.ok == nil && finished.healthy == nil)
        #expect(finished.json.jsonText == #"{"action":"restart api","id":"i","outcome":"dry_run"}"#, "nil is left out")
        #expect(EventType.incidentOpened == "incident.opened")
        #expect(EventType.incidentAwaitingApproval == "incident.awaiting_approval")
        #expect(EventType.incidentDryRun == "incident.dry_run")
    }

    @Test func theWrongTypeOrShapeDecodesToNil() {
        #expect(
            event("incident.opened", #"{"id":"i","title":"t","policy":"p","trigger":7}"#).decode(IncidentOpened.self)
                != nil
        )
        #expect(
            event("incident.resumed", #"{"id":"i","title":"t","policy":"p","trigger":7}"#).decode(IncidentOpened.self)
                == nil
        )
        // Anyone with an operator token can post an event of any type: a bad payload is no payload.
        #expect(event("incident.opened", #"{"id":7}"#).decode(IncidentOpened.self) == nil)
        #expect(event("incident.opened", #"[1,2]"#).decode(IncidentOpened.self) == nil)
    }
}
