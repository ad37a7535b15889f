import Foundation
import WardenCore
import WardenFleet
import WardenStore

/// The node's SQLite store as the uplink's outbox: its events in id order, its raw samples in row
/// order, and the acknowledged positions kept as blobs of the same database.
struct SQLiteUplinkSource: UplinkSource {
    let store: SQLiteStore
    static let positionKey = "fleet.shipped"
    static let decisionKey = "fleet.decided"
    static let samplesKey = "fleet.samples.shipped"

    func events(after afterID: Int64, limit: Int) async throws -> [Event] {
        try await store.events(matching: EventQuery(afterID: afterID, limit: limit))
    }

    func lastEventID() async throws -> Int64 { try await store.lastEventID() }

    func shippedPosition() async throws -> Int64 { try await position(Self.positionKey) }

    func setShippedPosition(_ id: Int64) async throws { try await setPosition(Self.positionKey, id) }

    func decisionPosition() async throws -> Int64 { try await position(Self.decisionKey) }

    func setDecisionPosition(_ id: Int64) async throws { try await setPosition(Self.decisionKey, id) }

    func samples(after afterID: Int64, limit: Int) async throws -> FleetSamples {
        let rows = try await store.samples(afterRow: afterID, limit: limit)
        return FleetSamples(
            series: rows.series,
            points: rows.points.map { .init(series: $0.series, id: $0.id, timeUs: $0.time, value: $0.value) }
        )
    }

    func samplesPosition() async throws -> Int64 { try await position(Self.samplesKey) }

    func setSamplesPosition(_ id: Int64) async throws { try await setPosition(Self.samplesKey, id) }

    private func position(_ key: String) async throws -> Int64 {
        guard let data = try await store.blob(key) else { return 0 }
        return Int64(String(decoding: data, as: UTF8.self)) ?? 0
    }

    private func setPosition(_ key: String, _ id: Int64) async throws {
        try await store.setBlob(key, Data(String(id).utf8))
    }
}
