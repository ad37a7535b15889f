import Foundation
import WardenCore
import WardenFleet
import WardenStore

/// The node's SQLite store as the uplink's outbox: its events in id order, and the acknowledged
/// position kept as a blob of the same database.
struct SQLiteUplinkSource: UplinkSource {
    let store: SQLiteStore
    static let positionKey = "fleet.shipped"
    static let decisionKey = "fleet.decided"

    func events(after afterID: Int64, limit: Int) async throws -> [Event] {
        try await store.events(matching: EventQuery(afterID: afterID, limit: limit))
    }

    func lastEventID() async throws -> Int64 { try await store.lastEventID() }

    func shippedPosition() async throws -> Int64 { try await position(Self.positionKey) }

    func setShippedPosition(_ id: Int64) async throws { try await setPosition(Self.positionKey, id) }

    func decisionPosition() async throws -> Int64 { try await position(Self.decisionKey) }

    func setDecisionPosition(_ id: Int64) async throws { try await setPosition(Self.decisionKey, id) }

    private func position(_ key: String) async throws -> Int64 {
        guard let data = try await store.blob(key) else { return 0 }
        return Int64(String(decoding: data, as: UTF8.self)) ?? 0
    }

    private func setPosition(_ key: String, _ id: Int64) async throws {
        try await store.setBlob(key, Data(String(id).utf8))
    }
}
