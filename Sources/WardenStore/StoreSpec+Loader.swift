import WardenCore
import Yams

/// The `store:` section: how the embedded store keeps what it acknowledges.
public struct StoreSpec: Sendable, Equatable {
    /// What an acknowledged write survives.
    public var durability: SQLiteStore.Durability = .normal

    public init(durability: SQLiteStore.Durability = .normal) {
        self.durability = durability
    }
}

extension Spec {
    /// The store's settings (the defaults when the loader had no ``StoreSection``).
    public var store: StoreSpec { sections[StoreSection.self] ?? StoreSpec() }
}

/// The `store:` section of the spec, read next to the store it configures: give it to the loader
/// (`SpecLoader(sections: [StoreSection.self])`) and read it back as `spec.store`.
public enum StoreSection: SpecSection {
    public static let key = "store"

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> StoreSpec? {
        var store = StoreSpec()
        guard let f = r.mapping(node, key: key, allowed: ["durability"]) else { return nil }
        if let n = f["durability"], let text = r.string(n, key: "store.durability") {
            if let d = SQLiteStore.Durability(rawValue: text) {
                store.durability = d
            } else {
                let valid = SQLiteStore.Durability.allCases.map(\.rawValue).joined(separator: " or ")
                r.fail(n, "store.durability", "found '\(text)'; expected \(valid)")
            }
        }
        return store
    }
}
