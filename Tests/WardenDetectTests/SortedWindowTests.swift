import Foundation
import Testing
import WardenDetect

@Suite("Sliding windows")
struct SortedWindowTests {
    /// Median, quantiles and MAD of the last W values, recomputed from scratch by sorting.
    static func naive(_ values: ArraySlice<Double>) -> (median: Double, mad: Double, q25: Double) {
        let s = values.sorted()
        func med(_ a: [Double]) -> Double {
            let n = a.count
            return n % 2 == 1 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2])
        }
        let m = med(s)
        let q = s[Int((0.25 * Double(s.count - 1)).rounded())]
        return (m, med(s.map { abs($0 - m) }.sorted()), q)
    }

    @Test(arguments: [1, 2, 7, 64, 255])
    func matchesSortingFromScratch(window: Int) {
        var rng = SplitMix(seed: UInt64(window))
        var w = SortedWindow(capacity: window)
        var all: [Double] = []
        for i in 0..<2000 {
            // Many repeated values (ties) and some outliers.
            let v = i % 3 == 0 ? Double(rng.next() % 5) : Double(rng.next() % 10_000) / 100 - 50
            all.append(v)
            w.append(v)
            let expected = Self.naive(all.suffix(window))
            #expect(w.median == expected.median)
            #expect(w.medianAbsoluteDeviation == expected.mad, "MAD at \(i)")
            #expect(w.quantile(0.25) == expected.q25)
            #expect(w.count == min(i + 1, window))
        }
        #expect(w.values == Array(all.suffix(window)))
    }

    @Test(arguments: [1, 5, 100])
    func slidingMaximumMatchesScan(window: Int) {
        var rng = SplitMix(seed: 99)
        var m = SlidingMaximum(window: window)
        var all: [Double] = []
        for _ in 0..<3000 {
            let v = Double(rng.next() % 1000)
            all.append(v)
            m.append(v)
            #expect(m.maximum == all.suffix(window).max())
        }
    }

    @Test func ringKeepsTheNewestInOrder() {
        var r = DoubleRing(capacity: 3)
        #expect(r.append(1) == nil)
        r.append(2)
        r.append(3)
        #expect(r.append(4) == 1)
        #expect(r.values == [2, 3, 4])
        #expect(r.oldest == 2)
    }

    @Test func encodesAndDecodes() throws {
        var w = SortedWindow(capacity: 10)
        for v in [5.0, 1, 9, 3, 3, 7, 2, 8, 6, 4, 0, 11] { w.append(v) }
        let back = try JSONDecoder().decode(SortedWindow.self, from: JSONEncoder().encode(w))
        #expect(back.values == w.values)
        #expect(back.median == w.median)
    }
}
