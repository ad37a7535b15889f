import Foundation
import WardenCore

/// The bans in force, as a set of addresses with a few numbers each: about 60 bytes a ban at a
/// million bans, not an object per ban.
///
/// Each ban is a slot in arrays side by side: its address (16 bytes), when it ends, its row id in
/// the store, and which *template* it was made from. A template holds what bans made together
/// share (reason, source, evidence, when, which offence): a list of a million addresses has one.
/// Addresses are found through an open-addressing index of slot numbers (linear probing, at most
/// half full, hashed with the process's random seed so that chosen addresses cannot pile up in
/// one run), and the next to end through a binary heap of (end, slot) packed in 8 bytes (the end
/// in whole seconds, rounded up: a ban is lifted at most a second late, never early).
///
/// What a scan sees (``all()``) is in slot order, which depends only on the operations made,
/// never on hashing. Lookups, insertions and removals cost O(1) on average, the next expiry
/// O(log n); entries of replaced or lifted bans stay in the heap until they reach its top or
/// until they are most of it, when it is rebuilt.
struct BanTable: Sendable {
    /// An address as 128 bits (IPv4 in the low 32) and whether it is IPv6.
    private struct Key: Hashable {
        var hi: UInt64
        var lo: UInt64
        var v6: Bool

        init(hi: UInt64, lo: UInt64, v6: Bool) {
            (self.hi, self.lo, self.v6) = (hi, lo, v6)
        }

        init(_ address: IPAddress) {
            switch address {
            case .v4(let a): (hi, lo, v6) = (0, UInt64(a), false)
            case .v6(let h, let l): (hi, lo, v6) = (h, l, true)
            }
        }

        var address: IPAddress { v6 ? .v6(hi, lo) : .v4(UInt32(truncatingIfNeeded: lo)) }
    }

    // One entry per slot. A free slot has `template == Self.free`.
    private var his: [UInt64] = []
    private var los: [UInt64] = []
    private var ends: [Double] = []
    private var ids: [Int64] = []
    /// The template's index; the top bit set for an IPv6 address.
    private var meta: [UInt32] = []
    private var freeSlots: [Int32] = []

    /// Slot numbers by hash; `empty` or `deleted` otherwise. Its size is a power of two.
    private var index: [Int32] = []
    private var deletedInIndex = 0

    /// What bans made together share: a ban whose address, end and id are blanked.
    private var templates: [Ban] = []
    private var templateUses: [Int32] = []
    private var freeTemplates: [Int32] = []

    /// The end in seconds (rounded up) in the high 32 bits, the slot in the low 32: earliest
    /// first at the top.
    private var heap: [UInt64] = []

    private(set) var count = 0

    /// Templates holding bans (what tests check sharing by).
    var templatesInUse: Int { templates.count - freeTemplates.count }

    private static let free = UInt32.max
    private static let v6Bit: UInt32 = 1 << 31
    private static let empty: Int32 = -1
    private static let deleted: Int32 = -2
    private static let noID = Int64.min

    init() {}

    // MARK: - Reading

    func contains(_ address: IPAddress) -> Bool { find(Key(address)).slot != nil }

    /// The ban of `address`, if it holds one (in force or ended but not yet expired by ``expire``).
    subscript(address: IPAddress) -> Ban? {
        find(Key(address)).slot.map(ban(at:))
    }

    /// When the ban of `address` ends.
    func end(of address: IPAddress) -> Date? {
        find(Key(address)).slot.map { Date(timeIntervalSince1970: ends[$0]) }
    }

    /// Every ban held, in slot order.
    func all() -> [Ban] {
        var result: [Ban] = []
        result.reserveCapacity(count)
        for slot in meta.indices where meta[slot] != Self.free { result.append(ban(at: slot)) }
        return result
    }

    private func ban(at slot: Int) -> Ban {
        var ban = templates[Int(meta[slot] & ~Self.v6Bit)]
        ban.address = Key(hi: his[slot], lo: los[slot], v6: meta[slot] & Self.v6Bit != 0).address
        ban.expiresAt = Date(timeIntervalSince1970: ends[slot])
        ban.id = ids[slot] == Self.noID ? nil : ids[slot]
        return ban
    }

    // MARK: - Changing

    /// Adds `ban`, or replaces the ban its address holds. Bans added one after another that differ
    /// only in address, end and id share one template.
    mutating func insert(_ ban: Ban) {
        let key = Key(ban.address)
        if (count + 1 + deletedInIndex) * 2 > index.count { rehash(for: 2 * (count + 1)) }
        let template = templateIndex(for: ban)
        let (found, place) = find(key)
        let slot: Int
        if let found {
            release(template: Int(meta[found] & ~Self.v6Bit))
            slot = found
        } else {
            slot = newSlot()
            his[slot] = key.hi
            los[slot] = key.lo
            count += 1
            if index[place] == Self.deleted { deletedInIndex -= 1 }
            index[place] = Int32(slot)
        }
        meta[slot] = UInt32(template) | (key.v6 ? Self.v6Bit : 0)
        ends[slot] = ban.expiresAt.timeIntervalSince1970
        ids[slot] = ban.id ?? Self.noID
        push(Self.entry(ends[slot], slot))
        if heap.count > 2 * count + 1024 { rebuildHeap() }
    }

    /// Removes the ban of `address`; returns it, if there was one.
    @discardableResult
    mutating func remove(_ address: IPAddress) -> Ban? {
        let (found, place) = find(Key(address))
        guard let found else { return nil }
        let ban = ban(at: found)
        index[place] = Self.deleted
        deletedInIndex += 1
        freeSlot(found)
        return ban
    }

    /// Removes the bans that end at or before `now`, earliest first, calling `body` with each
    /// address and, for the first `describing` of them, the ban itself (a list that ends together
    /// is not turned into a million values).
    mutating func expire(by now: Date, describing: Int, _ body: (IPAddress, Ban?) -> Void) {
        let t = now.timeIntervalSince1970
        var n = 0
        while let top = heap.first, Double(top >> 32) <= t {
            popHeap()
            let slot = Int(UInt32(truncatingIfNeeded: top))
            guard meta[slot] != Self.free, Self.entry(ends[slot], slot) == top else { continue }
            let key = Key(hi: his[slot], lo: los[slot], v6: meta[slot] & Self.v6Bit != 0)
            let ban = n < describing ? ban(at: slot) : nil
            n += 1
            let place = find(key).place
            index[place] = Self.deleted
            deletedInIndex += 1
            freeSlot(slot)
            body(key.address, ban)
        }
    }

    /// When the next ban ends (dropping entries of replaced or removed bans on the way).
    mutating func nextEnd() -> Date? {
        while let top = heap.first {
            let slot = Int(UInt32(truncatingIfNeeded: top))
            if meta[slot] != Self.free, Self.entry(ends[slot], slot) == top {
                return Date(timeIntervalSince1970: Double(top >> 32))
            }
            popHeap()
        }
        return nil
    }

    /// Makes room for `more` bans at once, so that a long list grows every array once.
    mutating func reserve(_ more: Int) {
        let wanted = count + more - freeSlots.count
        if wanted > meta.count {
            his.reserveCapacity(wanted)
            los.reserveCapacity(wanted)
            ends.reserveCapacity(wanted)
            ids.reserveCapacity(wanted)
            meta.reserveCapacity(wanted)
        }
        heap.reserveCapacity(heap.count + more)
        if (count + more + deletedInIndex) * 2 > index.count { rehash(for: count + more) }
    }

    // MARK: - Slots and templates

    private mutating func newSlot() -> Int {
        if let s = freeSlots.popLast() { return Int(s) }
        his.append(0)
        los.append(0)
        ends.append(0)
        ids.append(Self.noID)
        meta.append(Self.free)
        return meta.count - 1
    }

    private mutating func freeSlot(_ slot: Int) {
        release(template: Int(meta[slot] & ~Self.v6Bit))
        meta[slot] = Self.free
        count -= 1
        if count == 0 {
            // Nothing held (every template is released too): give the memory of a list that
            // ended back.
            self = BanTable()
        } else {
            freeSlots.append(Int32(slot))
        }
    }

    private mutating func templateIndex(for ban: Ban) -> Int {
        var blank = ban
        blank.address = .v4(0)
        blank.expiresAt = .distantPast
        blank.id = nil
        blank.liftedAt = nil
        if let last = lastTemplate, templateUses[last] > 0, templates[last] == blank {
            templateUses[last] += 1
            return last
        }
        let i: Int
        if let f = freeTemplates.popLast() {
            i = Int(f)
            templates[i] = blank
            templateUses[i] = 1
        } else {
            i = templates.count
            templates.append(blank)
            templateUses.append(1)
        }
        lastTemplate = i
        return i
    }

    private var lastTemplate: Int?

    private mutating func release(template i: Int) {
        templateUses[i] -= 1
        if templateUses[i] == 0 {
            // Drop what it holds (evidence may be large); the entry is reused.
            templates[i] = Self.blankTemplate
            freeTemplates.append(Int32(i))
            if lastTemplate == i { lastTemplate = nil }
        }
    }

    private static let blankTemplate = Ban(
        address: .v4(0),
        reason: "",
        source: "",
        createdAt: .distantPast,
        expiresAt: .distantPast,
        offence: 0
    )

    // MARK: - Index

    /// The slot holding `key`, if any, and the index position where it is (or where it would go).
    private func find(_ key: Key) -> (slot: Int?, place: Int) {
        guard !index.isEmpty else { return (nil, 0) }
        let mask = index.count - 1
        var p = key.hashValue & mask
        var firstDeleted: Int?
        while true {
            let s = index[p]
            if s == Self.empty { return (nil, firstDeleted ?? p) }
            if s == Self.deleted {
                if firstDeleted == nil { firstDeleted = p }
            } else {
                let slot = Int(s)
                if los[slot] == key.lo, his[slot] == key.hi, (meta[slot] & Self.v6Bit != 0) == key.v6 {
                    return (slot, p)
                }
            }
            p = (p + 1) & mask
        }
    }

    /// Builds the index afresh for `n` bans (at most half full then), without tombstones.
    private mutating func rehash(for n: Int) {
        var size = 16
        while size < 2 * n { size *= 2 }
        index = Array(repeating: Self.empty, count: size)
        deletedInIndex = 0
        let mask = size - 1
        for slot in meta.indices where meta[slot] != Self.free {
            let key = Key(hi: his[slot], lo: los[slot], v6: meta[slot] & Self.v6Bit != 0)
            var p = key.hashValue & mask
            while index[p] != Self.empty { p = (p + 1) & mask }
            index[p] = Int32(slot)
        }
    }

    // MARK: - Heap

    /// A heap entry: `end` in seconds rounded up (clamped to 32 bits) above `slot`.
    private static func entry(_ end: Double, _ slot: Int) -> UInt64 {
        let seconds = end.isFinite ? UInt64(min(max(end.rounded(.up), 0), Double(UInt32.max))) : UInt64(UInt32.max)
        return seconds << 32 | UInt64(UInt32(truncatingIfNeeded: slot))
    }

    private mutating func push(_ entry: UInt64) {
        heap.append(entry)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i] < heap[parent] else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func popHeap() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < heap.count, heap[l] < heap[smallest] { smallest = l }
            if r < heap.count, heap[r] < heap[smallest] { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }

    private mutating func rebuildHeap() {
        var fresh: [UInt64] = []
        fresh.reserveCapacity(count)
        for slot in meta.indices where meta[slot] != Self.free { fresh.append(Self.entry(ends[slot], slot)) }
        fresh.sort()  // a sorted array is a heap
        heap = fresh
    }
}
