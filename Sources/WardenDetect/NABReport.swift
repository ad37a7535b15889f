/// Text tables of NAB scores, as `warden nab score` prints them.
public enum NABReport {
    /// The header of ``line(detector:series:scores:)``.
    public static let header =
        pad("detector", 24) + pad("series", 8) + pad("standard", 10) + pad("low_FP", 10) + "low_FN"

    /// One detector's normalised scores under the three profiles (in ``NABProfile/all`` order).
    public static func line(detector: String, series: Int, scores: [NABProfileScore]) -> String {
        pad(detector, 24) + pad("\(series)", 8) + scores.map { pad(fixed($0.normalized), 10) }.joined()
    }

    /// Threshold, raw, null and counts per profile.
    public static func details(_ scores: [NABProfileScore]) -> String {
        scores.map {
            "  \(pad($0.profile.name, 20)) threshold=\(fixed($0.threshold, 6)) raw=\(fixed($0.raw, 3)) "
                + "null=\(fixed($0.null, 3)) perfect=\(fixed($0.perfect, 1)) tp=\($0.truePositives) "
                + "fn=\($0.falseNegatives) fp=\($0.falsePositives)"
        }.joined(separator: "\n")
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    /// `v` with `digits` decimals, without Foundation's formatters.
    static func fixed(_ v: Double, _ digits: Int = 2) -> String {
        guard v.isFinite else { return "\(v)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let negative = v < 0
        let n = Int64((abs(v) * scale).rounded())
        let whole = n / Int64(scale)
        var frac = String(n % Int64(scale))
        while frac.count < digits { frac = "0" + frac }
        let sign = negative && n != 0 ? "-" : ""
        return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(frac)"
    }
}
