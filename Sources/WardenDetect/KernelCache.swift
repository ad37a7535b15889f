/// libsvm's least-recently-used cache of kernel-matrix columns, in single precision.
///
/// Column `i` holds `Q[i][0..<len]` for the solver's current ordering of the samples; lengths vary
/// because shrinking only ever asks for the active prefix. When the solver swaps two samples the
/// cache swaps the matching entries of every cached column (or drops a column too short to hold
/// both). Memory is bounded by `bytes`, but always holds at least two full columns.
///
/// Bookkeeping lives in raw buffers allocated once (no reference counting or exclusivity checks on
/// the solver's hot path).
final class KernelCache {
    private let count: Int
    /// Remaining budget, in `Float`s.
    private var budget: Int
    private let data: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    private let lengths: UnsafeMutablePointer<Int>
    private let capacities: UnsafeMutablePointer<Int>
    // A circular doubly linked list of cached columns; index `count` is the list head.
    private let previous: UnsafeMutablePointer<Int>
    private let next: UnsafeMutablePointer<Int>

    init(count: Int, bytes: Int) {
        self.count = count
        // libsvm: size in Qfloats, minus the heads' own memory, at least two columns.
        var size = bytes / MemoryLayout<Float>.stride
        size -= count * 32 / MemoryLayout<Float>.stride
        budget = max(size, 2 * count)
        data = .allocate(capacity: count)
        data.initialize(repeating: nil, count: count)
        lengths = .allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        capacities = .allocate(capacity: count)
        capacities.initialize(repeating: 0, count: count)
        previous = .allocate(capacity: count + 1)
        previous.initialize(repeating: count, count: count + 1)
        next = .allocate(capacity: count + 1)
        next.initialize(repeating: count, count: count + 1)
    }

    deinit {
        for i in 0..<count { data[i]?.deallocate() }
        data.deallocate()
        lengths.deallocate()
        capacities.deallocate()
        previous.deallocate()
        next.deallocate()
    }

    @inline(__always) private func unlink(_ h: Int) {
        next[previous[h]] = next[h]
        previous[next[h]] = previous[h]
    }

    @inline(__always) private func linkLast(_ h: Int) {
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
    @_optimize(speed)
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

    /// Follows a swap of samples `a` and `b` in the solver's ordering.
    func swapIndex(_ a: Int, _ b: Int) {
        if a == b { return }
        if lengths[a] > 0 { unlink(a) }
        if lengths[b] > 0 { unlink(b) }
        swap(&data[a], &data[b])
        swap(&lengths[a], &lengths[b])
        swap(&capacities[a], &capacities[b])
        if lengths[a] > 0 { linkLast(a) }
        if lengths[b] > 0 { linkLast(b) }
        let i = min(a, b)
        let j = max(a, b)
        var h = next[count]
        while h != count {
            let following = next[h]
            let length = lengths[h]
            if length > i {
                if length > j {
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
