/// A detector's result on a corpus for one profile.
public struct NABProfileScore: Sendable, Hashable {
    /// The profile.
    public var profile: NABProfile
    /// The corpus-wide threshold that maximised the raw score (1.1 = no detections).
    public var threshold: Double
    /// The raw score at that threshold.
    public var raw: Double
    /// The raw score of the null detector (0.5 everywhere).
    public var null: Double
    /// The raw score of a perfect detector (every window detected on its first row, nothing else).
    public var perfect: Double
    /// `100 · (raw − null) / (perfect − null)`.
    public var normalized: Double
    /// Windows with a detection, at the threshold.
    public var truePositives: Int
    /// Windows without one.
    public var falseNegatives: Int
    /// Detections outside windows.
    public var falsePositives: Int
}
