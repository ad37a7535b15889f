/// Any of Warden's streaming detectors, in a box that remembers its kind so it can be encoded and
/// decoded (for the store) without knowing the type in advance.
public struct AnyStreamingDetector: StreamingDetector {
    /// The boxed detector.
    public private(set) var base: any StreamingDetector

    /// Boxes a detector of one of the ``DetectorKind`` types (or any other; those cannot be decoded).
    public init(_ base: any StreamingDetector) {
        self.base = base
    }

    /// The largest magnitude a boxed detector sees: a value beyond it (an infinity included) is
    /// clamped to it, so that squares, sums and differences of values never overflow.
    public static let valueLimit = 1e150

    /// Scores `value` with the boxed detector; a NaN is a missing reading, scored 0 and not
    /// learned, and a value beyond ±``valueLimit`` is clamped to it.
    public mutating func observe(_ value: Double, at time: Double) -> Double {
        guard !value.isNaN else { return 0 }
        return base.observe(min(max(value, -Self.valueLimit), Self.valueLimit), at: time)
    }

    /// The boxed detector's unit score.
    public func unitScore(_ raw: Double) -> Double {
        base.unitScore(raw)
    }

    private enum CodingKeys: String, CodingKey { case type, state }

    private static let types: [String: any StreamingDetector.Type] = [
        "WindowedGaussian": WindowedGaussian.self,
        "RobustZScore": RobustZScore.self,
        "ContextDetector": ContextDetector.self,
        "SeasonalResidual": SeasonalResidual.self,
        "LevelShift": LevelShift.self,
        "EnsembleDetector": EnsembleDetector.self,
        "LikelihoodDetector<WindowedGaussian>": LikelihoodDetector<WindowedGaussian>.self,
        "LikelihoodDetector<RobustZScore>": LikelihoodDetector<RobustZScore>.self,
        "LikelihoodDetector<EnsembleDetector>": LikelihoodDetector<EnsembleDetector>.self,
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .type)
        guard let type = Self.types[name] else {
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: c,
                debugDescription: "unknown detector type '\(name)'"
            )
        }
        base = try type.init(from: c.superDecoder(forKey: .state))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let name = String(describing: type(of: base))
        guard Self.types[name] != nil else {
            throw EncodingError.invalidValue(
                base,
                .init(codingPath: c.codingPath, debugDescription: "\(name) cannot be persisted in AnyStreamingDetector")
            )
        }
        try c.encode(name, forKey: .type)
        try base.encode(to: c.superEncoder(forKey: .state))
    }
}
