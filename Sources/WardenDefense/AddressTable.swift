import WardenCore

/// A table from addresses to values kept dense: a dictionary from address to position, and the
/// addresses and values in two arrays side by side. Removing moves the last entry into the hole.
///
/// At a million entries this costs about 60 % of a `Dictionary<IPAddress, Value>` of the same
/// entries (whose 2²¹ buckets each hold a whole value), and its order (what a scan of `values`
/// sees) depends only on the operations made, never on hashing, so eviction from it is the same
/// on every run.
struct AddressTable<Value: Sendable>: Sendable {
    private var positions: [IPAddress: Int32] = [:]
    private(set) var addresses: [IPAddress] = []
    /// The values, at the positions `position(of:)` gives; change them in place.
    var values: [Value] = []

    init(reserving capacity: Int) {
        positions.reserveCapacity(capacity)
        addresses.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
    }

    var count: Int { addresses.count }

    func position(of address: IPAddress) -> Int? { positions[address].map(Int.init) }

    /// The value of `address`; setting one adds or replaces it, setting nil removes it.
    subscript(address: IPAddress) -> Value? {
        get { positions[address].map { values[Int($0)] } }
        set {
            if let newValue {
                if let p = positions[address] {
                    values[Int(p)] = newValue
                } else {
                    _ = append(address, newValue)
                }
            } else {
                remove(address)
            }
        }
    }

    /// Removes `address`; returns its value, if it was there.
    mutating func removeValue(forKey address: IPAddress) -> Value? {
        guard let p = positions[address] else { return nil }
        let value = values[Int(p)]
        remove(at: Int(p))
        return value
    }

    /// Adds an address that is not in the table; returns its position.
    mutating func append(_ address: IPAddress, _ value: Value) -> Int {
        let p = addresses.count
        // The spec allows at most ten million addresses: a position always fits.
        positions[address] = Int32(p)
        addresses.append(address)
        values.append(value)
        return p
    }

    /// Removes the entry at `p`; the last entry takes its place (so a scan from the end down may
    /// remove as it goes).
    mutating func remove(at p: Int) {
        let last = addresses.count - 1
        positions[addresses[p]] = nil
        if p != last {
            addresses[p] = addresses[last]
            values[p] = values[last]
            positions[addresses[p]] = Int32(p)
        }
        addresses.removeLast()
        values.removeLast()
    }

    mutating func remove(_ address: IPAddress) {
        if let p = positions[address] { remove(at: Int(p)) }
    }
}

/// The k-th smallest (0-based) of `values`, found in place in expected linear time (quickselect
/// with three-way partitioning, so runs of equal values cost nothing extra). The result depends
/// only on the multiset of values, not on their order.
func kthSmallest(_ values: inout [Double], _ k: Int) -> Double {
    precondition(k >= 0 && k < values.count, "k out of range")
    var lo = 0
    var hi = values.count - 1
    // A fixed-seed generator for pivots: deterministic, and no input order is slow for ever.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    while lo < hi {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let pivot = values[lo + Int((state >> 33) % UInt64(hi - lo + 1))]
        // [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
        var lt = lo
        var i = lo
        var gt = hi
        while i <= gt {
            if values[i] < pivot {
                values.swapAt(lt, i)
                lt += 1
                i += 1
            } else if values[i] > pivot {
                values.swapAt(i, gt)
                gt -= 1
            } else {
                i += 1
            }
        }
        if k < lt {
            hi = lt - 1
        } else if k > gt {
            lo = gt + 1
        } else {
            return pivot
        }
    }
    return values[lo]
}
