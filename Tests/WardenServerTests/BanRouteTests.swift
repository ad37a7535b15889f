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

    /// A blocklist banned in one go: what the rules allow and is not banned already, with the
    /// refused ones named; one `ban.list` event.
    @Test func aListOfAddressesIsBannedInOneGo() async throws {
        let node = try APINode()
        let log = EventLog(node.bus.subscribe(name: "test-log"))
        try await node.test { client in
            #expect(try await post(client, #"{"address": "203.0.113.5", "for": "2h"}"#).status == .created)
            let addresses = (0..<2000).map { "45.0.\($0 / 200).\($0 % 200 + 1)" }
            let text =
                "# a blocklist\n; another comment\n\n" + addresses.joined(separator: "\n")
                + "\n127.0.0.1\n10.1.2.3 # allowlisted\n203.0.113.5\n45.0.0.1 ; twice\n"
            let r = try await client.execute(
                uri: "/v1/bans/list?for=1h&reason=blocklist",
                method: .post,
                headers: op,
                body: ByteBuffer(string: text)
            )
            #expect(r.status == .ok, "\(r.json?.jsonText ?? "")")
            #expect(r.json?["banned"]?.intValue == 2000)
            #expect(r.json?["already"]?.intValue == 1)
            #expect(r.json?["refused_count"]?.intValue == 2)
            #expect(
                r.json?["refused"]?.arrayValue?.compactMap { $0["address"]?.stringValue } == ["127.0.0.1", "10.1.2.3"]
            )
            let list = try await client.execute(uri: "/v1/bans?limit=5000", method: .get, headers: viewer)
            let banned = Set(list.json?["bans"]?.arrayValue?.compactMap { $0["address"]?.stringValue } ?? [])
            #expect(banned == Set(addresses + ["203.0.113.5"]))
            let one = list.json?["bans"]?.arrayValue?.first { $0["address"]?.stringValue == "45.0.9.200" }
            #expect(one?["reason"]?.stringValue == "blocklist" && one?["source"]?.stringValue == "list:ops")
            #expect((one?["remaining_seconds"]?.intValue ?? 0) > 3590)
            let event = try await log.wait(for: "ban.list")
            #expect(event[0].payload["banned"]?.intValue == 2000 && event[0].payload["refused"]?.intValue == 2)
            // What is refused, with the field (and line) at fault; nothing is banned by it.
            for (uri, body, field, status) in [
                ("/v1/bans/list?for=1h", "45.1.0.1\n203.0.113.0/24\n", "body", HTTPResponse.Status.badRequest),
                ("/v1/bans/list?for=1h", "45.1.0.1\nnot-an-address\n", "body", .badRequest),
                ("/v1/bans/list", "45.1.0.1\n", "for", .badRequest),
                ("/v1/bans/list?for=500d", "45.1.0.1\n", "for", .badRequest),
            ] {
                let bad = try await client.execute(uri: uri, method: .post, headers: op, body: ByteBuffer(string: body))
                #expect(bad.status == status && bad.json?["error"]?["field"]?.stringValue == field, "\(uri) \(body)")
            }
            let range = try await client.execute(
                uri: "/v1/bans/list?for=1h",
                method: .post,
                headers: op,
                body: ByteBuffer(string: "45.1.0.1\n203.0.113.0/24\n")
            )
            #expect(range.json?["error"]?["message"]?.stringValue?.hasPrefix("line 2:") == true)
            let viewers = try await client.execute(
                uri: "/v1/bans/list?for=1h",
                method: .post,
                headers: viewer,
                body: ByteBuffer(string: "45.1.0.1\n")
            )
            #expect(viewers.status == .forbidden)
            let after = try await client.execute(uri: "/v1/bans?limit=5000", method: .get, headers: viewer)
            #expect(after.json?["bans"]?.arrayValue?.contains { $0["address"]?.stringValue == "45.1.0.1" } == false)
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
