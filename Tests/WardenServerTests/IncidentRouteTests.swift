import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WardenCore
import WardenServer
import WardenTestSupport

/// The incident routes over a real healing engine, supervisor and store.
@Suite("Incident routes", .timeLimit(.minutes(2)))
struct IncidentRouteTests {
    init() { becomeSubreaper() }

    let op = Tokens.header(Tokens.operator)
    let viewer = Tokens.header(Tokens.viewer)

    static let careful = """
        healing: { verify: 20s, settle: 100ms }
        policies:
          careful:
            when: custom.alarm
            then: [restart svc]
            approve: true
        """

    /// Polls the list until an incident is in `status`.
    func waitFor(_ status: String, _ client: any TestClientProtocol) async throws -> JSONValue {
        var found: JSONValue?
        try await eventually("an incident \(status)") {
            let r = try await client.execute(uri: "/v1/incidents?status=\(status)", method: .get, headers: viewer)
            found = r.json?["incidents"]?.arrayValue?.first
            return found != nil
        }
        return try #require(found)
    }

    @Test func anIncidentIsListedShownApprovedAndResolved() async throws {
        let node = try APINode(extraSpec: Self.careful)
        try await node.test { client in
            try await eventually("svc runs") { await node.supervisor.isHealthy("svc") }
            let pid = try #require(await node.supervisor.status().first?.pid)
            node.bus.publish("custom.alarm", source: "test", subject: "svc", payload: ["level": .int(3)])
            let waiting = try await waitFor("awaiting_approval", client)
            let id = try #require(waiting["id"]?.stringValue)
            #expect(waiting["policy"]?.stringValue == "careful")
            #expect(waiting["target"]?.stringValue == "svc")

            // The whole timeline: the triggering event is evidence; the action waits.
            let shown = try await client.execute(uri: "/v1/incidents/\(id)", method: .get, headers: viewer)
            #expect(shown.status == .ok)
            let evidence = shown.json?["evidence"]?.arrayValue ?? []
            #expect(evidence.contains { $0["kind"]?.stringValue == "event" })
            #expect(shown.json?["steps"]?.arrayValue?.first?["state"]?.stringValue == "awaiting_approval")
            #expect(await node.supervisor.status().first?.pid == pid, "nothing is done before approval")

            // A viewer may not approve; an operator may.
            let refused = try await client.execute(uri: "/v1/incidents/\(id)/approve", method: .post, headers: viewer)
            #expect(refused.status == .forbidden)
            let approved = try await client.execute(uri: "/v1/incidents/\(id)/approve", method: .post, headers: op)
            #expect(approved.status == .ok)
            let resolved = try await waitFor("resolved", client)
            #expect(resolved["id"]?.stringValue == id)
            #expect((resolved["mttr_ms"]?.intValue ?? -1) >= 0)
            #expect(resolved["actions"]?.intValue == 1)
            #expect(await node.supervisor.status().first?.pid != pid, "the service was restarted")

            // A closed incident can be neither approved nor cancelled again.
            let again = try await client.execute(uri: "/v1/incidents/\(id)/approve", method: .post, headers: op)
            #expect(again.status == .conflict)
            #expect(again.json?["error"]?["field"]?.stringValue == "id")
            let late = try await client.execute(uri: "/v1/incidents/\(id)/cancel", method: .post, headers: op)
            #expect(late.status == .conflict)
        }
    }

    @Test func aCancelledIncidentStaysCancelledAndAudited() async throws {
        let node = try APINode(extraSpec: Self.careful)
        let log = EventLog(node.bus.subscribe(name: "test-log"))
        try await node.test { client in
            try await eventually("svc runs") { await node.supervisor.isHealthy("svc") }
            node.bus.publish("custom.alarm", source: "test", subject: "svc")
            let id = try #require(try await waitFor("awaiting_approval", client)["id"]?.stringValue)
            let cancelled = try await client.execute(uri: "/v1/incidents/\(id)/cancel", method: .post, headers: op)
            #expect(cancelled.status == .ok)
            #expect(cancelled.json?["status"]?.stringValue == "cancelled")
            let audit = try await log.wait(for: "audit.incident.cancel", id)
            #expect(audit[0].payload["actor"]?.stringValue == "ops")
            // Nothing is done for it afterwards.
            try await Task.sleep(for: .milliseconds(300))
            let after = try await client.execute(uri: "/v1/incidents/\(id)", method: .get, headers: viewer)
            #expect(after.json?["status"]?.stringValue == "cancelled")
            #expect(log.events(EventType.serviceStarted, "svc").count <= 1)
        }
    }

    @Test func badIncidentRequestsNameTheirFault() async throws {
        let node = try APINode(extraSpec: Self.careful)
        try await node.test { client in
            let bad = try await client.execute(uri: "/v1/incidents?status=sleeping", method: .get, headers: viewer)
            #expect(bad.status == .badRequest)
            #expect(bad.json?["error"]?["field"]?.stringValue == "status")
            let limit = try await client.execute(uri: "/v1/incidents?limit=0", method: .get, headers: viewer)
            #expect(limit.status == .badRequest)
            #expect(limit.json?["error"]?["field"]?.stringValue == "limit")
            for (uri, method) in [
                ("/v1/incidents/nope", HTTPRequest.Method.get), ("/v1/incidents/nope/approve", .post),
                ("/v1/incidents/nope/cancel", .post),
            ] {
                let r = try await client.execute(uri: uri, method: method, headers: op)
                #expect(r.status == .notFound, "\(method) \(uri)")
            }
            let empty = try await client.execute(uri: "/v1/incidents", method: .get, headers: viewer)
            #expect(empty.json?["incidents"]?.arrayValue?.isEmpty == true)
        }
    }
}
