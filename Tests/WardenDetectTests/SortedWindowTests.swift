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

    /// The heaps' median is the sorted window's, bit for bit: random values with many ties, a climb
    /// (every new value crosses the median) and a fall, for windows odd and even, tiny and large.
    @Test(arguments: [1, 2, 3, 8, 255, 1000])
    func slidingMedianIsTheSortedWindowsMedian(window: Int) throws {
        var rng = SplitMix(seed: UInt64(window) &+ 11)
        var sorted = SortedWindow(capacity: window)
        var heaps = SlidingMedian(capacity: window)
        var mismatches = 0
        for i in 0..<6000 {
            let v: Double
            switch (i / 1500) % 4 {
            case 1: v = Double(i)  // a climb
            case 3: v = -Double(i) / 7  // a fall
            default: v = i % 3 == 0 ? Double(rng.next() % 5) : Double(rng.next() % 10_000) / 100 - 50
            }
            #expect(heaps.oldest == sorted.oldest)
            sorted.append(v)
            heaps.append(v)
            if heaps.median != sorted.median || heaps.count != sorted.count { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(heaps.values == sorted.values)
        // Each decodes what the other encoded, so detectors can swap one for the other.
        let fromSorted = try JSONDecoder().decode(SlidingMedian.self, from: JSONEncoder().encode(sorted))
        #expect(fromSorted == heaps)
        #expect(fromSorted.median == heaps.median)
        let fromHeaps = try JSONDecoder().decode(SortedWindow.self, from: JSONEncoder().encode(heaps))
        #expect(fromHeaps.values == sorted.values)
    }

    @Test func slidingMedianCopiesOnWriteAndRefusesAnAbsurdCapacity() throws {
        var a = SlidingMedian(capacity: 3)
        for v in [1.0, 2, 3] { a.append(v) }
        var b = a
        b.append(100)
        b.append(200)
        #expect(a.values == [1, 2, 3] && a.median == 2)
        #expect(b.values == [3, 100, 200] && b.median == 100)
        #expect(a != b)
        for capacity in ["0", "-5", "\(SlidingMedian.maximumCapacity + 1)", "9223372036854775807"] {
            let json = Data(#"{"capacity":\#(capacity),"values":[1]}"#.utf8)
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(SlidingMedian.self, from: json) }
        }
        #expect(SlidingMedian(capacity: Int.max).capacity == SlidingMedian.maximumCapacity)
    }

    @Test(arguments: [1, 5, 100])
    func slidingMaximumMatchesScan(window: Int) throws {
        var rng = SplitMix(seed: 99)
        var m = SlidingMaximum(window: window)
        var all: [Double] = []
        var wrong = 0
        for i in 0..<3000 {
            // Random values, then a long fall (every value a candidate: the queue grows) and again.
            let v = (i / 500) % 2 == 1 ? Double(5000 - i) : Double(rng.next() % 1000)
            all.append(v)
            m.append(v)
            if m.maximum != all.suffix(window).max() { wrong += 1 }
            if i % 250 == 0 {
                // A saved and restored queue goes on exactly as the original.
                m = try JSONDecoder().decode(SlidingMaximum.self, from: JSONEncoder().encode(m))
            }
        }
        #expect(wrong == 0)
        #expect(m.count == 3000)
    }

    /// The form the queue used to be saved in (two arrays and a consumed prefix) still decodes, and
    /// a damaged one is an error.
    @Test func slidingMaximumDecodesItsEarlierForm() throws {
        let earlier = Data(#"{"window":3,"positions":[0,1,3,4],"values":[9,8,7,5],"head":2,"seen":5}"#.utf8)
        var m = try JSONDecoder().decode(SlidingMaximum.self, from: earlier)
        #expect(m.maximum == 7 && m.count == 5)
        m.append(1)  // position 5: position 3 is still inside the last three
        #expect(m.maximum == 7)
        m.append(1)  // position 6: 7 leaves
        #expect(m.maximum == 5)
        let damaged = Data(#"{"window":3,"positions":[0,1],"values":[9],"head":0,"seen":2}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SlidingMaximum.self, from: damaged) }
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
