import Foundation
import Synchronization
import WardenPostgres

/// The fleet's decisions after a given id, read once per ring of the bell however many agents
/// wake and ask: a decision wakes every long poll at once, and a thousand agents asking the same
/// question make one query, not a thousand.
final class DecisionCache: Sendable {
    private struct Entry {
        var version: Int
        var answer: Task<[StoredDecision], any Error>
    }
    private let entries = Mutex<[Int64: Entry]>([:])

    /// The decisions after `after`, as read at or after the bell's `version`.
    func decisions(
        after: Int64,
        version: Int,
        read: @escaping @Sendable () async throws -> [StoredDecision]
    ) async throws -> [StoredDecision] {
        let task = entries.withLock { entries -> Task<[StoredDecision], any Error> in
            if let e = entries[after], e.version >= version { return e.answer }
            if entries.count > 1000 { entries.removeAll() }
            let answer = Task { try await read() }
            entries[after] = Entry(version: version, answer: answer)
            return answer
        }
        do {
            return try await task.value
        } catch {
            // A failed read is not kept for the next asker.
            entries.withLock { entries in if entries[after]?.version == version { entries[after] = nil } }
            throw error
        }
    }
}
