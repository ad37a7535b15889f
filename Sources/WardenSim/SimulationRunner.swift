import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The tie between the simulated crew and the life-support service: marker files in a directory.
///
/// `critical` appears when a fault reaches its critical point (the service, run with
/// `warden-sample --crash-when DIR/critical`, then fails); a rebuild of the service creates
/// `repaired`, which ends the fault in the simulation and clears `critical`.
public struct LifeSupportLink: Sendable {
    public let directory: String
    public var criticalPath: String { directory + "/critical" }
    public var repairedPath: String { directory + "/repaired" }

    public init(directory: String) {
        self.directory = directory
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public func markCritical(_ kind: FaultKind) {
        FileManager.default.createFile(atPath: criticalPath, contents: Data(kind.rawValue.utf8))
    }

    public func clearCritical() { unlink(criticalPath) }

    /// Whether a rebuild happened since the last look (and forgets it).
    public func takeRepaired() -> Bool {
        guard access(repairedPath, F_OK) == 0 else { return false }
        unlink(repairedPath)
        return true
    }
}

/// Runs a ``VitalsSimulator`` against the wall clock, `speed` times faster than real time, and
/// hands each reading to `post` (stamped with the wall time it is posted at). Blocking: run it on
/// a thread of its own.
public final class SimulationRunner: Sendable {
    public struct Options: Sendable {
        /// Simulated seconds per wall second.
        public var speed: Double = 60
        /// Simulated seconds between readings.
        public var step: Double = 5
        public var seed: UInt64 = 1
        /// Faults to inject (simulated seconds from the start).
        public var schedule: [VitalsSimulator.Fault] = []
        /// Where the life-support markers live (nil: no service is tied to the simulation).
        public var link: String?
        /// Stop after this much simulated time (nil: until stopped).
        public var duration: Double?
        /// Write what happened here, one JSON object per line (see ``SimulationRecord``).
        public var record: String?
        /// How far ahead (simulated seconds) a failure counts as coming, in the record.
        public var horizon: Double = 900
        public init() {}
    }

    let options: Options
    let post: @Sendable (_ reading: VitalsReading, _ wall: Double) -> Void
    let log: @Sendable (_ line: String) -> Void
    let running = Atomic<Bool>(true)
    /// Where the readings' times come from.
    let clock: any WardenClock

    public init(
        _ options: Options,
        clock: any WardenClock = SystemClock(),
        post: @escaping @Sendable (VitalsReading, Double) -> Void,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.options = options
        self.clock = clock
        self.post = post
        self.log = log
    }

    public func stop() { running.store(false, ordering: .relaxed) }

    public func run() {
        var sim = VitalsSimulator(seed: options.seed, faults: options.schedule)
        let record = options.record.flatMap(SimulationRecord.init(path:))
        let link = options.link.map(LifeSupportLink.init)
        link?.clearCritical()
        _ = link?.takeRepaired()
        let tick = options.step / options.speed
        var next = clock.wallTime().timeIntervalSince1970
        var crashClearAt: Double?
        defer { record?.close() }
        while running.load(ordering: .relaxed) {
            if let d = options.duration, sim.time >= d { break }
            let now = clock.wallTime().timeIntervalSince1970
            if let link, link.takeRepaired() {
                record?.repaired(sim.active, at: sim.time, wall: now)
                if let e = sim.repair() { report(e, sim.time) }
                link.clearCritical()
            }
            if let at = crashClearAt, now >= at {
                link?.clearCritical()
                crashClearAt = nil
            }
            let (reading, events) = sim.step(options.step)
            for e in events {
                report(e, sim.time)
                record?.event(e, fault: sim.active, at: sim.time, wall: now)
                if case .critical(let kind) = e {
                    link?.markCritical(kind)
                    // A sudden crash is over at once: the service comes back by being restarted.
                    if kind == .crash { crashClearAt = now + 0.05 }
                }
            }
            post(reading, now)
            record?.reading(
                at: sim.time,
                wall: now,
                fault: sim.active,
                coming: sim.active?.failureComing(at: sim.time, within: options.horizon) ?? false
            )
            next += tick
            let wait = next - clock.wallTime().timeIntervalSince1970
            if wait > 0 {
                usleep(useconds_t(min(wait, 1) * 1e6))
            } else {
                next = clock.wallTime().timeIntervalSince1970
            }
        }
    }

    func report(_ e: SimEvent, _ t: Double) {
        let clock = String(format: "T+%02d:%02d:%02d", Int(t) / 3600, Int(t) / 60 % 60, Int(t) % 60)
        switch e {
        case .faultStarted(let k): log("\(clock) fault started: \(k.rawValue)")
        case .critical(let k): log("\(clock) CRITICAL: \(k.rawValue); life support fails")
        case .faultEnded(let k, let healed):
            log("\(clock) fault over: \(k.rawValue)\(healed ? " (repaired in time)" : "")")
        }
    }
}
