import Foundation
import Testing
import WardenCore
import WardenDetect

@Suite("The probability map (a monitor's calibration)")
struct ProbabilityMapTests {
    /// Through its knots, linear between them in the evidence's log-odds, flat beyond its ends,
    /// and never falling.
    @Test func passesThroughItsKnotsAndNeverFalls() throws {
        let map = try ProbabilityMap(evidence: [0.01, 0.5, 0.9, 0.99], probability: [0.02, 0.1, 0.1, 0.8])
        for (e, p) in zip(map.evidence, map.probability) { #expect(abs(map(e) - p) < 1e-12) }
        #expect(map(0) == 0.02 && map(0.001) == 0.02 && map(0.999) == 0.8 && map(1) == 0.8)
        #expect(map(0.7) == 0.1, "a level stretch stays level")
        // Halfway in log-odds between 0.01 and 0.5 (0.0913: log-odds −2.30) is halfway in probability.
        let half = 1 / (1 + exp((log(99.0)) / 2))
        #expect(abs(map(half) - 0.06) < 1e-9, "\(map(half))")
        #expect(map(.nan).isNaN)
        var rng = SplitMix64(seed: 3)
        var previous = -1.0
        for e in (0..<5000).map({ _ in Double(rng.next() % 1_000_000) / 1_000_000 }).sorted() {
            let p = map(e)
            #expect(p >= previous && (0...1).contains(p))
            previous = p
        }
        #expect(map.highest == 0.8 && map.lowest == 0.02)
    }

    /// Rising steps are merged, cheapest first (the pair whose merge adds the least squared
    /// error), down to the knots asked for and no further; steps that come out level are one.
    @Test func stepsAreMergedDownToTheKnotsAskedForAndNoFurther() throws {
        var evidence: [Double] = []
        var followed: [Bool] = []
        for (e, rate) in [(0.1, 1), (0.3, 3), (0.5, 6), (0.7, 9)] {
            for i in 0..<10 {
                evidence.append(e)
                followed.append(i < rate)
            }
        }
        let four = try #require(ProbabilityMap.fit(evidence: evidence, followed: followed, knots: 4))
        #expect(
            zip(four.evidence, [0.1, 0.3, 0.5, 0.7]).allSatisfy { abs($0 - $1) < 1e-12 } && four.evidence.count == 4
        )
        #expect(four.probability.map { ($0 * 10).rounded() } == [1, 3, 6, 9])
        let three = try #require(ProbabilityMap.fit(evidence: evidence, followed: followed, knots: 3))
        #expect(three.probability.map { ($0 * 100).rounded() } == [20, 60, 90], "\(three.probability)")
        // The merged knot sits at its moments' mean log-odds: odds √(1/9 · 3/7) = 1/√21.
        let odds = 1 / 21.0.squareRoot()
        #expect(abs(three.evidence[0] - odds / (1 + odds)) < 1e-9, "\(three.evidence)")
        let one = try #require(ProbabilityMap.fit(evidence: evidence, followed: followed, knots: 1))
        #expect(one.probability.count == 1 && abs(one.probability[0] - 0.475) < 1e-12)
        #expect(ProbabilityMap.fit(evidence: evidence, followed: followed, knots: 0)?.probability.count == 1)
        // Outcomes 1, 0, 1, 0 pool into 0.5 and 0.5, and those two into one.
        let level = try #require(
            ProbabilityMap.fit(evidence: [0.1, 0.2, 0.3, 0.4], followed: [true, false, true, false])
        )
        #expect(level.probability == [0.5])
    }

    /// A map read back is checked like one made: knots out of order, or none, are a decoding
    /// error, not a map that would trap on its first use.
    @Test func aDecodedMapIsChecked() throws {
        let map = try ProbabilityMap(evidence: [0.1, 0.9], probability: [0.05, 0.6])
        let back = try JSONDecoder().decode(ProbabilityMap.self, from: JSONEncoder().encode(map))
        #expect(back == map && back(0.5) == map(0.5))
        for bad in [
            #"{"evidence":[],"probability":[]}"#, #"{"evidence":[0.9,0.1],"probability":[0.1,0.2]}"#,
            #"{"evidence":[0.1],"probability":[0.1,0.2]}"#, #"{"evidence":[0.1],"probability":[2]}"#,
        ] {
            #expect(throws: DecodingError.self, "\(bad)") {
                try JSONDecoder().decode(ProbabilityMap.self, from: Data(bad.utf8))
            }
        }
    }

    static let badKnots: [([Double], [Double], String)] = [
        ([0.1, 0.5], [0.2], "2 evidence values for 1 probabilities"),
        ([Double](), [Double](), "found 0 knots; a map has 1 to 64"),
        ([0.1, 0.1], [0.2, 0.3], "knot 1: evidence 0.1 must be above the previous knot's 0.1"),
        ([0.1, 0.5], [0.3, 0.2], "knot 1: probability 0.2 is below the previous knot's 0.3; the map must not fall"),
        ([-0.1, 0.5], [0.1, 0.2], "knot 0: evidence -0.1 is not in [0, 1]"),
        ([0.1, 0.5], [0.1, .nan], "knot 1: probability nan is not in [0, 1]"),
        ((0...64).map { Double($0) / 64 }, [Double](repeating: 0.5, count: 65), "found 65 knots"),
    ]

    @Test(arguments: badKnots)
    func badKnotsAreRefusedWithTheKnotAtFault(evidence: [Double], probability: [Double], reason: String) {
        #expect {
            _ = try ProbabilityMap(evidence: evidence, probability: probability)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    /// Fitted to moments drawn from a known calibration curve, the map finds that curve (the
    /// oracle is the curve the outcomes were drawn from, not the fit); its Brier score is the
    /// curve's, and much better than taking the evidence at its word.
    @Test func aFitFindsTheCurveTheOutcomesWereDrawnFrom() throws {
        func truth(_ e: Double) -> Double { 0.03 + 0.6 * e * e }  // overconfident in the middle
        var rng = SplitMix64(seed: 11)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        var evidence: [Double] = []
        var followed: [Bool] = []
        for _ in 0..<200_000 {
            // Most moments rest low, as a monitor's do.
            let e = uniform() < 0.8 ? 0.01 * uniform() : uniform()
            evidence.append(e)
            followed.append(uniform() < truth(e))
        }
        let map = try #require(ProbabilityMap.fit(evidence: evidence, followed: followed, knots: 16))
        #expect(map.evidence.count <= 16 && map.evidence.count >= 8)
        for e in [0.005, 0.2, 0.4, 0.6, 0.8, 0.95] {
            #expect(abs(map(e) - truth(e)) < 0.04, "at \(e): \(map(e)) against \(truth(e))")
        }
        func brier(_ f: (Double) -> Double) -> Double {
            zip(evidence, followed).map { e, y in (f(e) - (y ? 1 : 0)) * (f(e) - (y ? 1 : 0)) }.reduce(0, +)
                / Double(evidence.count)
        }
        #expect(brier(map.callAsFunction) < brier(truth) + 0.001)
        #expect(brier(map.callAsFunction) < brier { $0 } - 0.01)
    }

    /// Outcomes that fall as the evidence rises pool into one level: the map never falls.
    @Test func outcomesAgainstTheEvidencePoolIntoOneLevel() throws {
        let evidence = (0..<1000).map { Double($0) / 1000 }
        let followed = evidence.map { $0 < 0.25 }
        let map = try #require(ProbabilityMap.fit(evidence: evidence, followed: followed))
        #expect(map.evidence.count == 1 && abs(map.probability[0] - 0.25) < 1e-12)
        #expect(map(0) == map(1))
        #expect(ProbabilityMap.fit(evidence: [.nan], followed: [true]) == nil)
        #expect(ProbabilityMap.fit(evidence: [0.5], followed: []) == nil)
        let one = try #require(ProbabilityMap.fit(evidence: [0.5, .nan, 0.5], followed: [true, true, false]))
        #expect(one.evidence == [0.5] && one.probability == [0.5])
    }
}
