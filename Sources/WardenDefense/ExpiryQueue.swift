import Foundation
import WardenCore

/// The bans in force by when they end: the next expiry and the bans due by a time in O(log n),
/// whatever the number of bans (a binary heap; an entry replaced or lifted is dropped lazily when
/// it reaches the top).
struct ExpiryQueue {
    private var heap: [(at: Date, address: IPAddress)] = []

    var isEmpty: Bool { heap.isEmpty }

    /// Entries held, stale ones included.
    var count: Int { heap.count }

    mutating func insert(_ address: IPAddress, at: Date) {
        heap.append((at, address))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].at < heap[parent].at else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// The earliest entry for which `current` says it is still the address's expiry.
    mutating func next(current: (IPAddress) -> Date?) -> Date? {
        while let top = heap.first {
            if current(top.address) == top.at { return top.at }
            removeTop()
        }
        return nil
    }

    /// Removes and returns the addresses whose current expiry is at or before `now`.
    mutating func due(by now: Date, current: (IPAddress) -> Date?) -> [IPAddress] {
        var result: [IPAddress] = []
        while let top = heap.first, top.at <= now {
            removeTop()
            if current(top.address) == top.at { result.append(top.address) }
        }
        return result
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < heap.count, heap[l].at < heap[smallest].at { smallest = l }
            if r < heap.count, heap[r].at < heap[smallest].at { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
