import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WardenCore
import WardenServer
import WardenTestSupport

/// The ban routes over a real ban manager and store (dry-run firewall).
@Suite("Ban routes", .timeLimit(.minutes(2)))
struct BanRouteTests {
    init() { becomeSubreaper() }

    let op = Tokens.header(Tokens.operator)
    let viewer = Tokens.header(Tokens.viewer)

    func post(_ client: any TestClientProtocol, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: "/v1/bans", method: .post, headers: op, body: ByteBuffer(string: body))
    }

    @Test func aBanIsMadeListedAndLifted() async throws {
        let node = try APINode()
        let log = EventLog(node.bus.subscribe(name: "test-log"))
        try await node.test { client in
            let made = try await post(client, #"{"address": "203.0.113.5", "for": "2h", "reason": "seen in the WAF"}"#)
            #expect(made.status == .created)
            #expect(made.json?["address"]?.stringValue == "203.0.113.5")
            #expect(made.json?["source"]?.stringValue == "manual:ops")
            #expect((made.json?["remaining_seconds"]?.intValue ?? 0) > 7190)
            let list = try await client.execute(uri: "/v1/bans", method: .get, headers: viewer)
            #expect(list.json?["firewall"]?.stringValue == "dry-run")
            #expect(list.json?["bans"]?.arrayValue?.map { $0["address"]?.stringValue } == ["203.0.113.5"])
            let lifted = try await client.execute(uri: "/v1/bans/203.0.113.5", method: .delete, headers: op)
            #expect(lifted.status == .ok)
            #expect(lifted.json?["lifted_by"]?.stringValue == "ops")
            let after = try await client.execute(uri: "/v1/bans", method: .get, headers: viewer)
            #expect(after.json?["bans"]?.arrayValue?.isEmpty == true)
            let all = try await client.execute(uri: "/v1/bans?all=true", method: .get, headers: viewer)
            #expect(all.json?["bans"]?.arrayValue?.first?["active"]?.boolValue == false)
            let audit = try await log.wait(for: "audit.ban")
            #expect(audit[0].payload["actor"]?.stringValue == "ops")
            try await log.wait(for: "audit.unban", "203.0.113.5")
        }
    }

    @Test func badBanRequestsNameTheirFault() async throws {
        let node = try APINode()
        try await node.test { client in
            let cases: [(String, HTTPResponse.Status, String?)] = [
                (#"{"address": "203.0.113.500"}"#, .badRequest, "address"),
                (#"{"for": "1h"}"#, .badRequest, "address"),
                (#"{"address": "203.0.113.5", "for": "forever"}"#, .badRequest, "for"),
                (#"{"address": "203.0.113.5", "for": 3600}"#, .badRequest, "for"),
                (#"{"address": "203.0.113.5", "for": "400d"}"#, .badRequest, "for"),
                (#"["203.0.113.5"]"#, .badRequest, nil),
                (#"{"address": "127.0.0.1"}"#, .conflict, "address"),
                (#"{"address": "10.1.2.3", "for": "1h"}"#, .conflict, "address"),
            ]
            for (body, status, field) in cases {
                let r = try await post(client, body)
                #expect(r.status == status, "\(body)")
                #expect(r.json?["error"]?["field"]?.stringValue == field, "\(body)")
            }
            let refused = try await post(client, #"{"address": "10.1.2.3"}"#)
            #expect(refused.json?["error"]?["message"]?.stringValue?.contains("allowlisted (10.0.0.0/8)") == true)
            let none = try await client.execute(uri: "/v1/bans/198.51.100.1", method: .delete, headers: op)
            #expect(none.status == .notFound)
            let bad = try await client.execute(uri: "/v1/bans/nope", method: .delete, headers: op)
            #expect(bad.status == .badRequest)
            let flag = try await client.execute(uri: "/v1/bans?all=maybe", method: .get, headers: viewer)
            #expect(flag.json?["error"]?["field"]?.stringValue == "all")
            let list = try await client.execute(uri: "/v1/bans", method: .get, headers: viewer)
            #expect(list.json?["bans"]?.arrayValue?.isEmpty == true, "nothing was banned by bad requests")
        }
    }
}
