import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// A node of the fleet as the control plane knows it.
public struct NodeRecord: Sendable, Hashable, Codable {
    public var name: String
    public var labels: [String: String]
    public var firstSeen: Date
    public var lastContact: Date
    /// Where it last called from.
    public var address: String
    /// The highest event id stored for it.
    public var lastEventID: Int64

    enum CodingKeys: String, CodingKey {
        case name, labels, address
        case firstSeen = "first_seen"
        case lastContact = "last_contact"
        case lastEventID = "last_event_id"
    }
}

/// The fleet's nodes: who has called, when last and from where.
extension PostgresStore {
    /// Every node, by name, with the highest event id stored for each.
    public func nodes() async throws -> [NodeRecord] {
        try await nodeRows(nil)
    }

    /// One node; nil when it has never called.
    public func node(_ name: String) async throws -> NodeRecord? {
        try await nodeRows(name).first
    }

    /// The nodes called `name` (every node when nil).
    private func nodeRows(_ name: String?) async throws -> [NodeRecord] {
        var result: [NodeRecord] = []
        for try await (name, labels, first, last, address, lastID) in try await client.query(
            """
            SELECT n.name, n.labels, n.first_seen, n.last_contact, n.address,
                COALESCE((SELECT MAX(id) FROM events e WHERE e.node = n.name), 0)::bigint
            FROM nodes n WHERE \(name == nil) OR n.name = \(name ?? "") ORDER BY n.name
            """,
            logger: logger
        ).decode((String, String, Int64, Int64, String, Int64).self) {
            result.append(
                NodeRecord(
                    name: name,
                    labels: Dictionary(
                        StoreValues.labels(fromText: labels).map { ($0.name, $0.value) },
                        uniquingKeysWith: { a, _ in a }
                    ),
                    firstSeen: StoreValues.date(first),
                    lastContact: StoreValues.date(last),
                    address: address,
                    lastEventID: lastID
                )
            )
        }
        return result
    }
}
