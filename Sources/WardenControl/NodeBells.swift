import Foundation
import Synchronization

/// One bell per node whose events someone follows: this replica rings a node's bell when it has
/// stored events of that node, so that a follower on the same replica sees them at once (a
/// follower on another replica looks every second). At most `limit` nodes have a bell.
final class NodeBells: Sendable {
    private let bells = Mutex<[String: DecisionBell]>([:])
    let limit: Int

    init(limit: Int = 10_000) { self.limit = limit }

    /// The bell of `node`; nil when `limit` nodes have one already.
    func bell(for node: String) -> DecisionBell? {
        bells.withLock { b in
            if let bell = b[node] { return bell }
            guard b.count < limit else { return nil }
            let bell = DecisionBell()
            b[node] = bell
            return bell
        }
    }

    func ring(_ node: String) { bells.withLock { $0[node] }?.ring() }

    /// At shutdown: every follower stops waiting.
    func closeAll() { for bell in bells.withLock({ Array($0.values) }) { bell.close() } }
}
