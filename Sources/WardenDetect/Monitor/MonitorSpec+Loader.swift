import Foundation
import WardenCore
import Yams

/// The `monitors:` section of the spec, read next to the monitors it configures: give it to the
/// loader (`SpecLoader(sections: [MonitorsSection.self])`) and read it back as `spec.monitors`.
/// (A monitor's `heal:` ladder is read by the healing section, which owns ladders and declares the
/// key; the monitor keeps the ladder as written, for its alerts.)
public enum MonitorsSection: SpecSection {
    public static let key = "monitors"

    static let monitorKeys = [
        "series", "model", "train", "retrain", "threshold", "for", "nu", "standardize", "smoothing", "align",
        "after_heal", "calibration",
    ]

    public static func read(_ node: Node, _ context: SpecContext, _ reader: inout YAMLReader) -> [MonitorSpec]? {
        guard let entries = reader.namedEntries(node, key: "monitors", what: "monitors") else { return nil }
        var monitors: [MonitorSpec] = []
        for (name, keyNode, value) in entries {
            guard SpecLoader.isValidName(name) else {
                reader.fail(
                    keyNode,
                    "monitors.\(name)",
                    "'\(name)' is not a valid monitor name; use letters, digits, '-', '_' and '.'"
                )
                continue
            }
            if let monitor = readMonitor(
                name: name,
                node: value,
                services: context.spec.services.map(\.name),
                otherKeys: context.loader.entryKeys(in: key),
                &reader
            ) {
                monitors.append(monitor)
            }
        }
        return monitors
    }

    /// `otherKeys` are the keys other sections read in a monitor (healing's `heal:`).
    static func readMonitor(
        name: String,
        node: Node,
        services: [String],
        otherKeys: [String] = [],
        _ r: inout YAMLReader
    ) -> MonitorSpec? {
        let key = "monitors.\(name)"
        guard let f = r.mapping(node, key: key, allowed: monitorKeys + otherKeys, required: ["series"]) else {
            return nil
        }
        let before = r.issues.count
        var monitor = MonitorSpec(name: name, series: [])
        if let n = f["series"], let list = r.stringList(n, key: "\(key).series", what: "series names") {
            if list.isEmpty { r.fail(n, "\(key).series", "a monitor needs at least one series") }
            for (i, text) in list.enumerated() {
                if let selector = SeriesSelector.parse(text) {
                    monitor.series.append(selector)
                } else {
                    r.fail(
                        n,
                        "\(key).series[\(i)]",
                        "found '\(text)'; expected a series name such as vitals.spo2 or vitals.spo2{crew=\"a\"}"
                    )
                }
            }
        }
        if let n = f["model"], let model = r.string(n, key: "\(key).model", what: "a model name") {
            if MonitorSpec.models.contains(model) {
                monitor.model = model
            } else {
                var message = "found '\(model)'; expected one of \(MonitorSpec.models.joined(separator: ", "))"
                if let guess = DidYouMean.suggest(model, from: MonitorSpec.models) {
                    message += " (did you mean '\(guess)'?)"
                }
                r.fail(n, "\(key).model", message)
            }
        }
        if let n = f["train"], let d = r.duration(n, key: "\(key).train") { monitor.train = d }
        if let n = f["retrain"], let d = r.duration(n, key: "\(key).retrain", min: .seconds(1)) { monitor.retrain = d }
        var thresholdRead = true
        if let n = f["threshold"] {
            if let v = r.fraction(n, key: "\(key).threshold") { monitor.threshold = v } else { thresholdRead = false }
        }
        if let n = f["for"], let d = r.duration(n, key: "\(key).for") { monitor.holdFor = d }
        if let n = f["nu"], let v = r.fraction(n, key: "\(key).nu") {
            if v > 0 { monitor.nu = v } else { r.fail(n, "\(key).nu", "found 0; nu must be above 0 and at most 1") }
        }
        if let n = f["standardize"], let b = r.bool(n, key: "\(key).standardize") { monitor.standardize = b }
        if let n = f["smoothing"], let v = r.int(n, key: "\(key).smoothing", range: 1...1000) { monitor.smoothing = v }
        if let n = f["after_heal"], let d = r.duration(n, key: "\(key).after_heal", max: .seconds(86_400)) {
            monitor.afterHeal = d
        }
        if let n = f["calibration"] { monitor.calibration = readCalibration(n, key: "\(key).calibration", &r) }
        switch monitor.calibration?.unusable(threshold: monitor.threshold) {
        case nil:
            break
        case .oneLevel(let p):
            if let n = f["calibration"] {
                r.fail(n, "\(key).calibration", "every knot gives \(p); a calibration needs two probabilities at least")
            }
        case let unusable? where thresholdRead:
            let problem = unusable.problem
            if let n = f["threshold"] {
                r.fail(n, "\(key).threshold", "found \(monitor.threshold), which \(problem)")
            } else if let n = f["calibration"] {
                r.fail(
                    n,
                    "\(key).calibration",
                    "the threshold (\(monitor.threshold) by default) \(problem); give a threshold: within the map"
                )
            }
        default:
            break
        }
        if let n = f["align"], let d = r.duration(n, key: "\(key).align", min: .milliseconds(1)) { monitor.align = d }
        // The section that reads the ladder reports its problems; the monitor keeps it as written.
        if let n = f["heal"] {
            var quiet = YAMLReader(file: r.file)
            monitor.heal = quiet.stringList(n, key: "", what: "")?.joined(separator: ", ")
        }
        return r.issues.count == before ? monitor : nil
    }
}

extension MonitorsSection {
    /// A `calibration:` list: `[evidence, probability]` pairs, evidence rising and probability
    /// never falling (see ``ProbabilityMap``).
    static func readCalibration(_ node: Node, key: String, _ r: inout YAMLReader) -> ProbabilityMap? {
        let shape = "a list of [evidence, probability] pairs such as [[0.01, 0.03], [0.9, 0.35]]"
        guard case .sequence(let list) = node else {
            r.fail(node, key, "found \(YAMLReader.describe(node)); expected \(shape)")
            return nil
        }
        guard (1...ProbabilityMap.maximumKnots).contains(list.count) else {
            r.fail(node, key, "found \(list.count) pairs; expected 1 to \(ProbabilityMap.maximumKnots)")
            return nil
        }
        var evidence: [Double] = []
        var probability: [Double] = []
        for (i, item) in list.enumerated() {
            let itemKey = "\(key)[\(i)]"
            guard case .sequence(let pair) = item, pair.count == 2 else {
                var found = YAMLReader.describe(item)
                if case .sequence(let list) = item { found = "a list of \(list.count)" }
                r.fail(item, itemKey, "found \(found); expected a pair [evidence, probability]")
                return nil
            }
            guard let e = r.fraction(pair[0], key: "\(itemKey)[0]"), let p = r.fraction(pair[1], key: "\(itemKey)[1]")
            else { return nil }
            evidence.append(e)
            probability.append(p)
        }
        do {
            return try ProbabilityMap(evidence: evidence, probability: probability)
        } catch {
            let at = error.knot.map { list[$0] } ?? node
            r.fail(at, error.knot.map { "\(key)[\($0)]" } ?? key, "\(error.reason)")
            return nil
        }
    }
}

extension Spec {
    /// The monitors (none when the spec has no `monitors:` section, or was not read with
    /// ``MonitorsSection``).
    public var monitors: [MonitorSpec] {
        get { sections[MonitorsSection.self] ?? [] }
        set { sections[MonitorsSection.self] = newValue }
    }
}
