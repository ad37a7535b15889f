import Foundation
import Logging
import Synchronization
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenFleet

/// The uplink's choice of control plane when one dies: the shipping loop and the decisions poll
/// fail on it together, and must move on to the next one once, not once each (with two control
/// planes, twice is back to the dead one, and each failure there backs off longer).
@Suite("The uplink's failover between control planes")
struct UplinkFailoverTests {
    /// The node's outbox: `count` events, positions kept in memory.
    final class Outbox: UplinkSource {
        let all: [Event]
        let positions = Mutex((shipped: Int64(0), decided: Int64(0), samples: Int64(0)))

        init(count: Int) {
            all = (1...count).map {
                Event(id: Int64($0), time: Date(), type: "test.event", source: "test", subject: "s")
            }
        }

        func events(after afterID: Int64, limit: Int) async throws -> [Event] {
            Array(all.filter { $0.id > afterID }.prefix(limit))
        }
        func lastEventID() async throws -> Int64 { all.last?.id ?? 0 }
        func shippedPosition() async throws -> Int64 { positions.withLock { $0.shipped } }
        func setShippedPosition(_ id: Int64) async throws { positions.withLock { $0.shipped = id } }
        func decisionPosition() async throws -> Int64 { positions.withLock { $0.decided } }
        func setDecisionPosition(_ id: Int64) async throws { positions.withLock { $0.decided = id } }
        func samples(after afterID: Int64, limit: Int) async throws -> FleetSamples {
            FleetSamples(series: [], points: [])
        }
        func samplesPosition() async throws -> Int64 { positions.withLock { $0.samples } }
        func setSamplesPosition(_ id: Int64) async throws { positions.withLock { $0.samples = id } }
    }

    /// Control plane `dead` fails every call after a moment (a connection that times out, so that
    /// the two loops' calls are in flight there together); `alive` acknowledges every batch and
    /// holds each decisions poll briefly, as a real one holds it for seconds.
    final class TwoControlPlanes: HTTPTransport {
        let calls = Mutex([String: Int]())

        func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
            let host = URL(string: request.url)?.host ?? ""
            calls.withLock { $0[host, default: 0] += 1 }
            if host == "dead" {
                try? await Task.sleep(for: .milliseconds(100))
                throw OutboundError("connection timed out")
            }
            if request.url.contains("/v1/fleet/decisions") {
                try? await Task.sleep(for: .milliseconds(50))
                return OutboundResponse(status: 200, body: Array(#"{"decisions":[]}"#.utf8))
            }
            guard let batch = try? JSONDecoder().decode(FleetBatch.self, from: Data(request.body)) else {
                return OutboundResponse(status: 400, body: Array("bad batch".utf8))
            }
            let ack = FleetAck(stored: batch.events.count, lastID: batch.events.last?.id ?? 0)
            return OutboundResponse(status: 200, body: Array(try! JSONEncoder().encode(ack)))
        }
    }

    @Test func bothLoopsFailingOnADeadControlPlaneMoveOnOnce() async throws {
        var spec = FleetSpec(control: ["http://dead:1", "http://alive:1"], node: "edge-1", token: Secret("t"))
        spec.every = .milliseconds(20)
        spec.batch = 10
        let transport = TwoControlPlanes()
        let outbox = Outbox(count: 50)
        let uplink = Uplink(spec: spec, source: outbox, transport: transport, logger: Logger(label: "test"))
        let running = Task { try await uplink.run() }
        defer { running.cancel() }
        try await eventually("every event is acknowledged by the live control plane") { uplink.shipped == 50 }
        // Each loop tried the dead one once; with a move each, they would have gone back to it.
        #expect(transport.calls.withLock { $0["dead"] ?? 0 } <= 2, "\(transport.calls.withLock { $0 })")
        #expect(uplink.turn % 2 == 1, "the uplink stays with the live control plane")
    }

    @Test func aMoveIsMadeOnlyFromTheControlPlaneThatFailed() {
        let spec = FleetSpec(control: ["http://a:1", "http://b:1"], node: "n", token: Secret("t"))
        let uplink = Uplink(
            spec: spec,
            source: Outbox(count: 1),
            transport: TwoControlPlanes(),
            logger: Logger(label: "t")
        )
        #expect(uplink.turn == 0)
        uplink.rotate(from: 0)
        uplink.rotate(from: 0)
        #expect(uplink.turn == 1, "two failures at the first control plane: one move, to the second")
        uplink.rotate(from: 1)
        #expect(uplink.turn == 2)
    }
}
