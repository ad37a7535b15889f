/// The weights of a NAB application profile.
public struct NABProfile: Sendable, Hashable, CustomStringConvertible {
    /// The profile's name in NAB (`standard`, `reward_low_FP_rate`, `reward_low_FN_rate`).
    public var name: String
    /// Reward for a detected window (earned in full by a detection on its first row).
    public var truePositive: Double
    /// Penalty for a detection outside any window.
    public var falsePositive: Double
    /// Penalty for a window without a detection.
    public var falseNegative: Double

    /// Creates a profile.
    public init(name: String, truePositive: Double, falsePositive: Double, falseNegative: Double) {
        self.name = name
        self.truePositive = truePositive
        self.falsePositive = falsePositive
        self.falseNegative = falseNegative
    }

    /// NAB's standard profile: tp 1, fp 0.11, fn 1.
    public static let standard = NABProfile(name: "standard", truePositive: 1, falsePositive: 0.11, falseNegative: 1)
    /// NAB's reward_low_FP_rate: tp 1, fp 0.22, fn 1.
    public static let lowFalsePositives = NABProfile(
        name: "reward_low_FP_rate",
        truePositive: 1,
        falsePositive: 0.22,
        falseNegative: 1
    )
    /// NAB's reward_low_FN_rate: tp 1, fp 0.11, fn 2.
    public static let lowFalseNegatives = NABProfile(
        name: "reward_low_FN_rate",
        truePositive: 1,
        falsePositive: 0.11,
        falseNegative: 2
    )
    /// The three profiles, in NAB's order.
    public static let all = [standard, lowFalsePositives, lowFalseNegatives]

    public var description: String { name }
}
