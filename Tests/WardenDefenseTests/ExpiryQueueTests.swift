import Foundation
import Testing
import WardenCore

@testable import WardenDefense

/// The bans' expiry queue against a plain sort of the same bans.
@Suite("Ban expiry queue")
struct ExpiryQueueTests {
    @Test func dueBansComeOutInOrderAndStaleEntriesAreSkipped() throws {
        var rng = SplitMix64(seed: 42)
        var queue = ExpiryQueue()
        var current: [IPAddress: Date] = [:]
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<5_000 {
            let address = try #require(IPAddress("10.\(i / 65_536).\(i / 256 % 256).\(i % 256)"))
            let at = base.addingTimeInterval(Double(rng.next() % 10_000))
            queue.insert(address, at: at)
            current[address] = at
            // Some bans are replaced (a new expiry) and some lifted: their old entries are stale.
            if i % 7 == 0 {
                let later = at.addingTimeInterval(500)
                queue.insert(address, at: later)
                current[address] = later
            }
            if i % 11 == 0 { current[address] = nil }
        }
        let expected = current.sorted { ($0.value, $0.key.description) < ($1.value, $1.key.description) }
        #expect(queue.next(current: { current[$0] }) == expected.first?.value)
        var seen: [(IPAddress, Date)] = []
        for t in stride(from: 0.0, through: 11_000, by: 250) {
            let now = base.addingTimeInterval(t)
            for address in queue.due(by: now, current: { current[$0] }) {
                let at = try #require(current[address])
                #expect(at <= now)
                seen.append((address, at))
                current[address] = nil
            }
        }
        #expect(seen.count == expected.count, "every ban in force expired once")
        #expect(Set(seen.map(\.0)) == Set(expected.map(\.key)))
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.1 <= $1.1 }, "in order of expiry")
        #expect(queue.next(current: { current[$0] }) == nil)
        #expect(queue.isEmpty)
    }
}
