import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a simulation run did, written as it goes, one JSON object per line, for scoring a live
/// agent against the truth (`bench/demo-scorecard`):
///
/// - a reading: `{"t": 3605, "wall": 1767000000.25, "fault": "hypoxia", "coming": true}` — the
///   simulated and wall times (the wall time is the one the reading was posted with), the fault
///   active (or null) and whether a failure lies ahead within the horizon;
/// - an event: `{"event": "started", "kind": "fever", "t": …, "wall": …, "critical_at": 5400}`,
///   `critical`, `over` (a fault that ran its course) and `repaired` (a rebuild ended the fault;
///   `kind` is null when none was active, `lead` is how long before its critical point it came).
final class SimulationRecord {
    private let file: UnsafeMutablePointer<FILE>

    /// Opens (truncates) `path`; nil when it cannot be written.
    init?(path: String) {
        guard let f = fopen(path, "w") else { return nil }
        file = f
    }

    func close() { fclose(file) }

    private func write(_ fields: [(String, String)]) {
        let body = fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
        fputs("{\(body)}\n", file)
    }

    private static func number(_ x: Double) -> String { x.isFinite ? String(x) : "null" }
    private static func text(_ s: String?) -> String { s.map { "\"\($0)\"" } ?? "null" }

    func reading(at t: Double, wall: Double, fault: VitalsSimulator.Fault?, coming: Bool) {
        write([
            ("t", Self.number(t)), ("wall", Self.number(wall)), ("fault", Self.text(fault?.kind.rawValue)),
            ("coming", coming ? "true" : "false"),
        ])
    }

    func event(_ e: SimEvent, fault: VitalsSimulator.Fault?, at t: Double, wall: Double) {
        var fields: [(String, String)]
        switch e {
        case .faultStarted(let kind):
            fields = [("event", "\"started\""), ("kind", Self.text(kind.rawValue))]
            if let fault, fault.kind.isGradual { fields.append(("critical_at", Self.number(fault.criticalTime))) }
        case .critical(let kind): fields = [("event", "\"critical\""), ("kind", Self.text(kind.rawValue))]
        case .faultEnded(let kind, let healed):
            fields = [("event", healed ? "\"repaired\"" : "\"over\""), ("kind", Self.text(kind.rawValue))]
        }
        write(fields + [("t", Self.number(t)), ("wall", Self.number(wall))])
    }

    /// A rebuild ended `fault` (nil: none was active).
    func repaired(_ fault: VitalsSimulator.Fault?, at t: Double, wall: Double) {
        var fields = [("event", "\"repaired\""), ("kind", Self.text(fault?.kind.rawValue))]
        if let fault, fault.kind.isGradual { fields.append(("lead", Self.number(fault.criticalTime - t))) }
        write(fields + [("t", Self.number(t)), ("wall", Self.number(wall))])
    }
}
