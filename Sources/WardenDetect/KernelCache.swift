/// libsvm's least-recently-used cache of kernel-matrix columns, in single precision.
///
/// Column `i` holds `Q[i][0..<len]` for the solver's current ordering of the samples; lengths vary
/// because shrinking only ever asks for the active prefix. When the solver swaps two samples the
/// cache swaps the matching entries of every cached column (or drops a column too short to hold
/// both). Memory is bounded by `bytes`, but always holds at least two full columns.
final class KernelCache {
    private let count: Int
    /// Remaining budget, in `Float`s.
    private var budget: Int
    private var data: [UnsafeMutablePointer<Float>?]
    private var lengths: [Int]
    private var capacities: [Int]
    // A circular doubly linked list of cached columns; index `count` is the list head.
    private var previous: [Int]
    private var next: [Int]

    init(count: Int, bytes: Int) {
        self.count = count
        // libsvm: size in Qfloats, minus the heads' own memory, at least two columns.
        var size = bytes / MemoryLayout<Float>.stride
        size -= count * 32 / MemoryLayout<Float>.stride
        budget = max(size, 2 * count)
        data = Array(repeating: nil, count: count)
        lengths = Array(repeating: 0, count: count)
        capacities = Array(repeating: 0, count: count)
        previous = Array(repeating: count, count: count + 1)
        next = Array(repeating: count, count: count + 1)
    }

    deinit {
        for case let pointer? in data { pointer.deallocate() }
    }

    private func unlink(_ h: Int) {
        next[previous[h]] = next[h]
        previous[next[h]] = previous[h]
    }

    private func linkLast(_ h: Int) {
        next[h] = count
        previous[h] = previous[count]
        next[previous[h]] = h
        previous[count] = h
    }

    private func drop(_ h: Int) {
        data[h]?.deallocate()
        data[h] = nil
        budget += lengths[h]
        lengths[h] = 0
        capacities[h] = 0
    }

    /// Returns column `index` with room for `length` entries and the position from which the caller
    /// must fill it (`length` or more when it is already complete).
    @inline(__always)
    func column(_ index: Int, length: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let old = lengths[index]
        if old > 0 { unlink(index) }
        let more = length - old
        var start = length
        if more > 0 {
            while budget < more {
                let oldest = next[count]
                unlink(oldest)
                drop(oldest)
            }
            if capacities[index] < length {
                let fresh = UnsafeMutablePointer<Float>.allocate(capacity: length)
                if let existing = data[index] {
                    fresh.update(from: existing, count: lengths[index])
                    existing.deallocate()
                }
                data[index] = fresh
                capacities[index] = length
            }
            budget -= more
            lengths[index] = length
            start = old
        }
        linkLast(index)
        return (data[index]!, start)
    }

    /// Follows a swap of samples `i` and `j` in the solver's ordering.
    func swapIndex(_ a: Int, _ b: Int) {
        if a == b { return }
        if lengths[a] > 0 { unlink(a) }
        if lengths[b] > 0 { unlink(b) }
        data.swapAt(a, b)
        lengths.swapAt(a, b)
        capacities.swapAt(a, b)
        if lengths[a] > 0 { linkLast(a) }
        if lengths[b] > 0 { linkLast(b) }
        let i = min(a, b)
        let j = max(a, b)
        var h = next[count]
        while h != count {
            let following = next[h]
            if lengths[h] > i {
                if lengths[h] > j {
                    let column = data[h]!
                    let t = column[i]
                    column[i] = column[j]
                    column[j] = t
                } else {
                    unlink(h)
                    drop(h)
                }
            }
            h = following
        }
    }
}
