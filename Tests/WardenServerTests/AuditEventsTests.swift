import Foundation
import Testing
import WardenCore
import WardenServer

/// The audit's events keep the JSON keys the API and dashboard show, written out here by hand.
@Suite("Audit events")
struct AuditEventsTests {
    @Test func auditPayloadsKeepTheirWireKeys() throws {
        let auth =
            #"{"addresses":4,"failures":3,"refused":1,"remote":"others","result":"refused","unauthenticated":0,"wait_ms":250}"#
        let failures = try #require(AuthFailures(json: JSONValue.parse(auth)!))
        #expect(failures.waitMs == 250 && failures.problem == nil)
        #expect(failures.json.jsonText == auth)
        let ingest = #"{"actor":"ops","rejected":2,"requests":3,"samples":40,"statuses":{"200":2,"400":1}}"#
        let tally = try #require(IngestTally(json: JSONValue.parse(ingest)!))
        #expect(tally.statuses == ["200": 2, "400": 1])
        #expect(tally.json.jsonText == ingest)
        #expect(EventType.auditService("restart") == "audit.service.restart")
        #expect(EventType.auditIncident("approve") == "audit.incident.approve")
    }
}
