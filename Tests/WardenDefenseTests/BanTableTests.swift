import Foundation
import Testing
import WardenCore

@testable import WardenDefense

/// The compact ban table against a plain dictionary of the same bans, under random operations.
@Suite("Ban table")
struct BanTableTests {
    let base = Date(timeIntervalSince1970: 1_800_000_000)

    func ban(_ address: IPAddress, ends: Double, id: Int64?, reason: String = "ssh") -> Ban {
        Ban(
            id: id,
            address: address,
            reason: reason,
            source: "scenario",
            createdAt: base,
            expiresAt: base.addingTimeInterval(ends),
            offence: 1
        )
    }

    /// IPv4 and IPv6 addresses whose 128 bits agree (`1.2.3.4` and `::102:304`) are different bans.
    func address(_ i: UInt64) -> IPAddress {
        i % 3 == 0 ? .v6(0, i % 500) : i % 3 == 1 ? .v4(UInt32(i % 500)) : .v6(0x2001_0db8 << 32, i % 500)
    }

    @Test func matchesADictionaryUnderRandomOperations() {
        var rng = SplitMix64(seed: 7)
        var table = BanTable()
        var model: [IPAddress: Ban] = [:]
        var clock = 0.0
        for step in 0..<40_000 {
            let a = address(rng.next() % 1_500)
            switch rng.next() % 10 {
            case 0..<5:
                let b = ban(a, ends: clock + Double(rng.next() % 600), id: rng.next() % 4 == 0 ? nil : Int64(step))
                table.insert(b)
                model[a] = b
            case 5..<7:
                #expect(table.remove(a) == model.removeValue(forKey: a))
            case 7:
                clock += Double(rng.next() % 60)
                let now = base.addingTimeInterval(clock)
                var out: [(IPAddress, Ban?)] = []
                table.expire(by: now, describing: 3) { out.append(($0, $1)) }
                let due = model.values.filter { $0.expiresAt <= now }
                #expect(out.count == due.count)
                #expect(Set(out.map(\.0)) == Set(due.map(\.address)))
                #expect(zip(out, out.dropFirst()).allSatisfy { model[$0.0]!.expiresAt <= model[$1.0]!.expiresAt })
                #expect(out.prefix(3).allSatisfy { $0.1 == model[$0.0] }, "the first three are described")
                #expect(out.dropFirst(3).allSatisfy { $0.1 == nil }, "the others are not")
                for (a, _) in out { model[a] = nil }
            default:
                #expect(table[a] == model[a])
                #expect(table.contains(a) == (model[a] != nil))
                #expect(table.end(of: a) == model[a]?.expiresAt)
            }
            #expect(table.count == model.count)
            if step % 1_000 == 0 {
                #expect(Set(table.all()) == Set(model.values))
                #expect(table.nextEnd() == model.values.map(\.expiresAt).min())
            }
        }
    }

    /// A list banned together holds one template, however long; replacing or removing its bans
    /// releases it, and a table emptied holds nothing.
    @Test func aListSharesOneTemplate() throws {
        var table = BanTable()
        let list = (0..<10_000).map { ban(.v4(UInt32($0) + 1), ends: 3_600, id: Int64($0)) }
        table.reserve(list.count)
        for b in list { table.insert(b) }
        #expect(table.count == 10_000)
        #expect(table.templatesInUse == 1)
        let single = ban(.v4(5), ends: 60, id: 99_999, reason: "by hand")
        table.insert(single)
        #expect(table.templatesInUse == 2)
        #expect(table[.v4(5)] == single)
        #expect(table.nextEnd() == single.expiresAt)
        var expired: [IPAddress] = []
        table.expire(by: base.addingTimeInterval(60), describing: 1) { a, _ in expired.append(a) }
        #expect(expired == [.v4(5)])
        #expect(table.templatesInUse == 1)
        #expect(table.nextEnd() == base.addingTimeInterval(3_600), "the replaced entry of 5 is skipped")
        var n = 0
        table.expire(by: base.addingTimeInterval(3_600), describing: 0) { _, described in
            #expect(described == nil)
            n += 1
        }
        #expect(n == 9_999)
        #expect(table.count == 0 && table.templatesInUse == 0 && table.nextEnd() == nil)
        table.insert(single)
        #expect(table[.v4(5)] == single, "an emptied table works again")
    }

    /// Removing and adding many times over (a busy host's bans come and go) keeps lookups right:
    /// tombstones in the index are swept, not piled up.
    @Test func churnKeepsTheIndexRight() {
        var table = BanTable()
        for round in 0..<50 {
            for i in 0..<2_000 { table.insert(ban(.v4(UInt32(round * 2_000 + i)), ends: 60, id: nil)) }
            for i in 0..<2_000 where i % 10 != 0 { table.remove(.v4(UInt32(round * 2_000 + i))) }
        }
        #expect(table.count == 50 * 200)
        #expect(table.contains(.v4(49 * 2_000 + 10)))
        #expect(!table.contains(.v4(49 * 2_000 + 11)))
    }
}
