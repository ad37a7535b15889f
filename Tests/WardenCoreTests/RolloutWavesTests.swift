import Testing
import WardenCore

@Suite("Rollout waves")
struct RolloutWavesTests {
    let nodes = (1...20).map { "node-\($0)" }

    @Test func theFirstWaveIsTheShareAskedForAndDependsOnTheCommit() {
        let a = RolloutWaves(
            commit: String(repeating: "a", count: 40),
            members: nodes,
            share: 0.25,
            settled: [],
            rolledBack: nil
        )
        let b = RolloutWaves(
            commit: String(repeating: "b", count: 40),
            members: nodes.reversed(),
            share: 0.25,
            settled: [],
            rolledBack: nil
        )
        #expect(a.first.count == 5)
        #expect(Set(a.first).isSubset(of: Set(nodes)))
        #expect(a.first != b.first, "each commit picks its own first wave")
        // The member list's order does not matter: every replica picks the same nodes.
        let again = RolloutWaves(commit: a.commit, members: nodes.shuffled(), share: 0.25, settled: [], rolledBack: nil)
        #expect(again.first == a.first)
        #expect(
            RolloutWaves(commit: a.commit, members: ["x"], share: 0.01, settled: [], rolledBack: nil).first == ["x"]
        )
    }

    @Test func theRestWaitForTheFirstWaveAndAHaltStopsEveryone() {
        var waves = RolloutWaves(
            commit: String(repeating: "c", count: 40),
            members: nodes,
            share: 0.1,
            settled: [],
            rolledBack: nil
        )
        let first = waves.first
        let other = nodes.first { !first.contains($0) }!
        #expect(waves.answer(for: first[0]).admit)
        #expect(waves.answer(for: first[0]).wave == 1)
        #expect(!waves.answer(for: other).admit)
        waves.settled = [first[0]]
        #expect(!waves.answer(for: other).admit, "one of two settled is not enough")
        waves.settled = Set(first)
        #expect(
            waves.answer(for: other) == RolloutAnswer(admit: true, wave: 2, reason: waves.answer(for: other).reason)
        )
        // A node of the first wave that is gone is not waited for; a first wave kept from the
        // start of the rollout is the one used.
        waves.settled = [first[0]]
        waves.fixedFirst = first
        waves.members = nodes.filter { $0 != first[1] }
        #expect(waves.answer(for: other).admit)
        waves.members = nodes
        waves.fixedFirst = [other]
        #expect(waves.answer(for: other).wave == 1)
        waves.fixedFirst = nil
        waves.rolledBack = (first[1], "app: it failed")
        #expect(!waves.answer(for: other).admit)
        #expect(!waves.answer(for: first[0]).admit)
        #expect(waves.answer(for: other).reason.contains("halted: \(first[1]) rolled it back (app: it failed)"))
    }
}
