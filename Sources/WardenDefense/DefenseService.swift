import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import WardenCore

/// The active defense, as a service: watches the connection table and log files, scores
/// addresses, asks the analyst about borderline ones, and bans through the ``BanManager``.
///
/// Signals are handled on the watchers' own threads (a log line is parsed and scored where it is
/// read); only a decision to ban hops to the ban manager. Log positions are kept in
/// `directory/positions.json`, so a restart never reads a line twice.
public final class DefenseService: Service, Sendable {
    public struct Dependencies: Sendable {
        public var spec: DefenseSpec
        public var bans: BanManager
        public var bus: EventBus
        public var clock: any WardenClock
        public var logger: Logger
        /// Where log positions are kept.
        public var directory: String
        /// The connection table's files (a test may point elsewhere).
        public var procNet: String
        /// Starts `journalctl` for journal watches (nil: journal watches are reported and skipped).
        public var spawn: StreamSpawner?
        /// Outbound HTTP for the analyst (nil: no analyst, and the start says so).
        public var transport: (any HTTPTransport)?

        public init(
            spec: DefenseSpec,
            bans: BanManager,
            bus: EventBus,
            clock: any WardenClock = SystemClock(),
            logger: Logger,
            directory: String,
            procNet: String = "/proc/net",
            spawn: StreamSpawner? = nil,
            transport: (any HTTPTransport)? = nil
        ) {
            self.spec = spec
            self.bans = bans
            self.bus = bus
            self.clock = clock
            self.logger = logger
            self.directory = directory
            self.procNet = procNet
            self.spawn = spawn
            self.transport = transport
        }
    }

    let d: Dependencies
    let engine: Mutex<ThreatEngine>
    let analyst: Analyst?
    let asking = Atomic<Int>(0)
    let positions = Mutex<[String: LogFollower.Position]>([:])
    let cursors = Mutex<[String: String]>([:])
    let positionsDirty = Atomic<Bool>(false)
    let tracked: Gauge
    let evicted: Gauge
    let lines: Counter
    let signals: Counter
    /// Signals from lines older than ``horizon``, dropped.
    let staleSignals: Counter
    /// The longest window of the scenarios, in seconds (see ``handle(_:stated:)``).
    let horizon: Double
    let start: Instant

    public init(_ dependencies: Dependencies) {
        d = dependencies
        analyst = dependencies.spec.analyst.flatMap { spec in
            dependencies.transport.flatMap { Analyst(spec, transport: $0) }
        }
        if dependencies.spec.analyst != nil && analyst == nil {
            dependencies.logger.error(
                "the analyst cannot be reached: no outbound HTTP transport; the rules decide alone"
            )
        }
        engine = Mutex(ThreatEngine(dependencies.spec, reportBorderline: analyst != nil))
        tracked = Gauge(label: "warden_defense_tracked_addresses")
        evicted = Gauge(label: "warden_defense_evicted_addresses")
        lines = Counter(label: "warden_defense_lines_total")
        signals = Counter(label: "warden_defense_signals_total")
        staleSignals = Counter(label: "warden_defense_stale_signals_total")
        horizon = ThreatEngine.horizon(of: dependencies.spec)
        start = dependencies.clock.now()
    }

    var positionsPath: String { (d.directory as NSString).appendingPathComponent("positions.json") }

    public func run() async throws {
        try? FileManager.default.createDirectory(atPath: d.directory, withIntermediateDirectories: true)
        loadPositions()
        await d.bans.start()
        var followers: [LogFollower] = []
        for watch in d.spec.watches {
            if case .log(let path, let parserName, let fromStart) = watch,
                let parser = LineParsers.make(parserName, spec: d.spec)
            {
                followers.append(follower(path: path, parser: parser, name: parserName, fromStart: fromStart))
            }
        }
        var journals: [JournalFollower] = []
        for watch in d.spec.watches {
            guard case .journal(let unit, let parserName, let directory) = watch,
                let parser = LineParsers.make(parserName, spec: d.spec)
            else { continue }
            if let j = journal(unit: unit, directory: directory, parser: parser, name: parserName) {
                journals.append(j)
            } else {
                d.logger.error(
                    "cannot read the journal: journalctl is not installed",
                    metadata: ["warden.unit": "\(unit ?? "*")"]
                )
                d.bus.publish(
                    DefenseSourceFailed(error: "journalctl is not installed"),
                    source: "defense",
                    subject: "journal:\(unit ?? "*")"
                )
            }
        }
        // start() returns once each file is open at its position; stop() waits for the threads.
        // Both wait synchronously, so off the cooperative pool.
        let (starting, startingJournals) = (followers, journals)
        await blockingWork {
            for f in starting { f.start() }
            for j in startingJournals { j.start() }
        }
        d.bus.publish(
            DefenseStarted(firewall: await d.bans.firewallName, logs: followers.count, journals: journals.count),
            source: "defense",
            subject: "defense"
        )
        let firewall = await d.bans.firewallName
        d.logger.info(
            "defense started",
            metadata: [
                "warden.firewall": "\(firewall)", "warden.logs": "\(followers.count)",
                "warden.connections":
                    "\(d.spec.watches.contains { if case .connections = $0 { true } else { false } })",
            ]
        )
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for watch in d.spec.watches {
                    if case .connections(let every) = watch {
                        group.addTask { await self.watchConnections(every: every) }
                    }
                }
                group.addTask { await self.housekeeping() }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
        }
        let (stopping, stoppingJournals) = (followers, journals)
        await blockingWork {
            for f in stopping { f.stop() }
            for j in stoppingJournals { j.stop() }
        }
        savePositions()
    }

    // MARK: - Signals

    /// Scores a signal at the time its log line states (`stated`), or now; acts on a threat it
    /// reveals.
    ///
    /// A line from the future counts as now. One older than the longest scenario window
    /// (``ThreatEngine/horizon(of:)``) is dropped, as fail2ban drops lines older than its
    /// findtime: what it could have added up to was over long ago. So a backlog (after a
    /// restart, or a burst) is judged as it happened, not as if every line had come at once.
    public func handle(_ signal: DefenseSignal, stated: Date? = nil) {
        signals.increment()
        var now = d.clock.now().seconds(since: start)
        if let stated {
            let age = max(0, d.clock.wallTime().timeIntervalSince(stated))
            guard age <= horizon else {
                staleSignals.increment()
                return
            }
            now -= age
        }
        guard let threat = engine.withLock({ $0.observe(signal, now: now) }) else { return }
        Task { await self.decide(threat) }
    }

    func decide(_ threat: Threat) async {
        var score = threat.score
        var seen = ThreatSeen(
            score: (threat.score * 1000).rounded() / 1000,
            scenarios: threat.scenarios,
            lines: threat.evidence
        )
        let threshold = d.spec.threshold
        if let analyst, score < 2 * threshold {
            if asking.add(1, ordering: .relaxed).newValue <= (d.spec.analyst?.concurrency ?? 1) {
                switch await analyst.ask(threat) {
                case .success(let verdict):
                    score = Analyst.adjust(score, by: verdict, threshold: threshold)
                    seen.analyst = verdict.json
                case .failure(let error):
                    seen.analyst = ["error": .string(error.message), "fallback": "rules"]
                }
            } else {
                seen.analyst = ["error": "too many questions in flight", "fallback": "rules"]
            }
            asking.subtract(1, ordering: .relaxed)
            seen.adjustedScore = (score * 1000).rounded() / 1000
            if score < threshold {
                seen.banned = false
                d.bus.publish(
                    EventType.threatReviewed,
                    source: "defense",
                    subject: threat.address.description,
                    payload: seen.json
                )
                return
            }
        } else if !threat.atThreshold {
            return
        }
        let payload = seen.json
        d.bus.publish(seen, source: "defense", subject: threat.address.description)
        let reason = threat.scenarios.last ?? "threat"
        let outcome = await d.bans.ban(
            threat.address,
            reason: reason,
            source: seen.analyst?["verdict"] != nil ? "analyst" : "scenario",
            evidence: payload,
            // A jail's ban lasts its bantime, as fail2ban's does.
            duration: d.spec.jail(forScenario: reason)?.banTime
        )
        switch outcome {
        case .banned, .refused:
            // Banned: its next offence starts from nothing. Refused: it is scored afresh, so that
            // each new round of misbehaviour is on the record too.
            engine.withLock { $0.forget(threat.address) }
        case .already, .capped: break
        }
    }

    // MARK: - Watchers

    /// What happens to each line of a source: parsed, scored, and watched for a changed format.
    func lineHandler(
        source: String,
        parser: any LineParser,
        name: String
    ) -> @Sendable (UnsafeBufferPointer<UInt8>) -> Void {
        let blindness = Mutex(BlindnessDetector())
        let lines = self.lines
        return { [self] line in
            lines.increment()
            var stated: Date??
            let known = parser.parse(line) { signal, address in
                // The line's own time, read once and only for lines that say something.
                if stated == nil { stated = .some(parser.statedTime(of: line, reference: self.d.clock.wallTime())) }
                self.handle(
                    DefenseSignal(
                        address: address,
                        name: signal,
                        evidence: String(decoding: line.prefix(300), as: UTF8.self)
                    ),
                    stated: stated ?? nil
                )
            }
            if blindness.withLock({ $0.observe(recognized: known) }) {
                self.d.logger.warning(
                    "a watched log stopped matching its parser",
                    metadata: ["warden.source": "\(source)", "warden.parser": "\(name)"]
                )
                self.d.bus.publish(
                    DefenseSourceBlind(
                        parser: name,
                        unrecognizedLines: 200,
                        example: String(decoding: line.prefix(300), as: UTF8.self)
                    ),
                    source: "defense",
                    subject: source
                )
            }
        }
    }

    func journal(unit: String?, directory: String?, parser: any LineParser, name: String) -> JournalFollower? {
        guard let spawn = d.spawn else { return nil }
        let key = JournalFollower.key(unit: unit, directory: directory)
        return JournalFollower(
            unit: unit,
            directory: directory,
            saved: cursors.withLock { $0[key] },
            since: d.clock.wallTime(),
            spawn: spawn,
            onLine: lineHandler(source: key, parser: parser, name: name),
            onCursor: { [self] cursor in
                cursors.withLock { $0[key] = cursor }
                positionsDirty.store(true, ordering: .relaxed)
            }
        )
    }

    func follower(path: String, parser: any LineParser, name: String, fromStart: Bool) -> LogFollower {
        LogFollower(
            path: path,
            fromStart: fromStart,
            saved: positions.withLock { $0[path] },
            onLine: lineHandler(source: path, parser: parser, name: name),
            onPosition: { [self] position in
                positions.withLock { $0[path] = position }
                positionsDirty.store(true, ordering: .relaxed)
            }
        )
    }

    func watchConnections(every: Duration) async {
        var tracker = ConnectionTracker()
        let root = d.procNet
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let entries = ConnectionTable.read(root: root)
            let now = d.clock.now().seconds(since: start)
            for s in tracker.observe(entries, now: now) { handle(s) }
            do { try await d.clock.sleep(for: every) } catch { return }
        }
    }

    /// Expires bans, saves log positions, publishes the table's size.
    func housekeeping() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await d.bans.expireDue()
            if positionsDirty.exchange(false, ordering: .relaxed) { savePositions() }
            let (count, evictions) = engine.withLock { ($0.tracked, $0.evictions) }
            tracked.record(count)
            evicted.record(evictions)
            var wait = Duration.milliseconds(250)
            if let next = await d.bans.nextExpiry() {
                let left = next.timeIntervalSince(d.clock.wallTime())
                if left < wait.seconds { wait = .milliseconds(Int64(max(5, left * 1000))) }
            }
            do { try await d.clock.sleep(for: wait) } catch { return }
        }
    }

    /// Addresses tracked and evicted so far.
    public var stats: (tracked: Int, evicted: Int) { engine.withLock { ($0.tracked, $0.evictions) } }

    // MARK: - Positions

    func loadPositions() {
        guard let data = FileManager.default.contents(atPath: positionsPath),
            let json = JSONValue.parse(String(decoding: data, as: UTF8.self)), case .object(let fields) = json
        else { return }
        var loaded: [String: LogFollower.Position] = [:]
        var journal: [String: String] = [:]
        for (path, v) in fields {
            if let inode = v["inode"]?.intValue, let offset = v["offset"]?.intValue {
                loaded[path] = .init(inode: UInt64(inode), offset: offset)
            } else if let cursor = v["cursor"]?.stringValue {
                journal[path] = cursor
            }
        }
        positions.withLock { $0 = loaded }
        cursors.withLock { $0 = journal }
    }

    func savePositions() {
        let all = positions.withLock { $0 }
        var fields: [String: JSONValue] = [:]
        for (path, p) in all { fields[path] = ["inode": .int(Int64(p.inode)), "offset": .int(p.offset)] }
        for (key, cursor) in cursors.withLock({ $0 }) { fields[key] = ["cursor": .string(cursor)] }
        let tmp = positionsPath + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(JSONValue.object(fields).jsonText.utf8)) else {
            return
        }
        _ = rename(tmp, positionsPath)
    }
}

extension Instant {
    /// Seconds from `origin` to this instant.
    func seconds(since origin: Instant) -> Double { Double(nanoseconds - origin.nanoseconds) / 1e9 }
}
