import Foundation
import WardenCore
import WardenFleet
import WardenStore

/// The node's SQLite store as the uplink's outbox: its events in id order, and the acknowledged
/// position kept as a blob of the same database.
struct SQLiteUplinkSource: UplinkSource {
    let store: SQLiteStore
    static let positionKey = "fleet.shipped"

    func events(after afterID: Int64, limit: Int) async throws -> [Event] {
        try await store.events(matching: EventQuery(afterID: afterID, limit: limit))
    }

    func shippedPosition() async throws -> Int64 {
        guard let data = try await store.blob(Self.positionKey) else { return 0 }
        return Int64(String(decoding: data, as: UTF8.self)) ?? 0
    }

    func setShippedPosition(_ id: Int64) async throws {
        try await store.setBlob(Self.positionKey, Data(String(id).utf8))
    }
}
