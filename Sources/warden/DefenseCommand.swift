import ArgumentParser
import Foundation
import WardenCore
import WardenDefense

struct DefenseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "defense",
        abstract: "Offline tools of the active defense.",
        subcommands: [DefenseScanCommand.self]
    )
}

/// Reads a whole log through a parser and the threat engine, as `warden run` would, at the times
/// the lines state, and reports the rate and the bans it would have made. For measuring, for
/// trying a parser or a fail2ban jail on a real log, and for comparing with fail2ban.
struct DefenseScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Run a log file through a parser and the threat scenarios; print lines/s and the bans."
    )

    @Argument(help: "The log file.") var file: String
    @Option(help: "sshd, nginx or apache.") var parser: String = "sshd"
    @Option(help: "fail2ban's directory: scan with one of its jails (--jail) instead of a parser.")
    var fail2ban: String?
    @Option(help: "The enabled jail of --fail2ban to scan with.") var jail: String?
    @Option(help: "Addresses tracked at once (100...10000000), as defense.max_addresses.")
    var maxAddresses: Int = DefenseSpec().maxAddresses
    @Flag(help: "Print one JSON object (with every ban: address, time, scenario).") var json = false
    @Flag(
        help:
            "Judge the file as a backlog read now, as `warden run` (and fail2ban-server) would on start: lines older than the longest scenario window count for nothing. Without it, the log is judged as it happened."
    )
    var backlog = false

    func validate() throws {
        guard (100...10_000_000).contains(maxAddresses) else {
            throw ValidationError("--max-addresses: found \(maxAddresses); expected 100 to 10000000")
        }
        guard (fail2ban == nil) == (jail == nil) else {
            throw ValidationError("--fail2ban and --jail go together")
        }
    }

    /// The spec and parser to scan with: the built-in scenarios and a parser, or one jail alone.
    func setup() throws -> (DefenseSpec, any LineParser) {
        var spec = DefenseSpec()
        spec.maxAddresses = maxAddresses
        if let fail2ban, let jail {
            let jails: [Fail2banJail]
            do {
                jails = try Fail2banJails.load(directory: fail2ban)
            } catch {
                printError("warden: \(error)")
                throw ExitCode(1)
            }
            guard let j = jails.first(where: { $0.name == jail }) else {
                printError(
                    "warden: no enabled jail '\(jail)' in \(fail2ban); enabled: \(jails.map(\.name).joined(separator: ", "))"
                )
                throw ExitCode(1)
            }
            spec.jails = [j]
            spec.scenarios = [j.scenario(score: spec.threshold)]
            return (spec, try Fail2banParser(jail: j))
        }
        guard let p = LineParsers.make(parser, patterns: []) else {
            printError("warden: no parser '\(parser)'; expected sshd, nginx or apache")
            throw ExitCode(1)
        }
        return (spec, p)
    }

    func run() async throws {
        let (spec, p) = try setup()
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("warden: cannot read \(file)")
            throw ExitCode(1)
        }
        // A year-less syslog stamp is read relative to when the file was last written.
        let modified =
            (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? Date()
        var engine = ThreatEngine(spec)
        let horizon = ThreatEngine.horizon(of: spec)
        var lines = 0
        var recognized = 0
        var signals = 0
        var stale = 0
        var bans: [(address: IPAddress, at: Date, scenario: String)] = []
        var banned: [IPAddress: Date] = [:]
        var origin: Date?
        var latest = Date(timeIntervalSince1970: 0)
        let scanTime = Date()
        let start = ContinuousClock.now
        data.withUnsafeBytes { raw in
            let all = raw.bindMemory(to: UInt8.self)
            var i = 0
            while i < all.count {
                let rest = all.count - i
                let end =
                    memchr(all.baseAddress! + i, 10, rest).map {
                        all.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self))
                    } ?? all.count
                let line = UnsafeBufferPointer(rebasing: all[i..<end])
                lines += 1
                var stated: Date??
                let known = p.parse(line) { name, address in
                    signals += 1
                    if stated == nil { stated = .some(p.statedTime(of: line, reference: modified)) }
                    // The log's own clock: a line states its time (one without keeps the last),
                    // and the log's latest time is "now" (a line out of order is that old).
                    let at = (stated ?? nil) ?? latest
                    latest = max(latest, backlog ? scanTime : at)
                    let base = origin ?? at
                    origin = base
                    let age = latest.timeIntervalSince(at)
                    guard age <= horizon else {
                        stale += 1
                        return
                    }
                    if let until = banned[address], until > at { return }
                    let s = DefenseSignal(address: address, name: name, evidence: "")
                    if let t = engine.observe(s, now: latest.timeIntervalSince(base) - age), t.atThreshold {
                        let scenario = t.scenarios.last ?? "threat"
                        bans.append((t.address, at, scenario))
                        let length = spec.jail(forScenario: scenario)?.banTime ?? spec.ban.first
                        banned[t.address] = at.addingTimeInterval(length.seconds)
                        engine.forget(t.address)
                    }
                }
                if known { recognized += 1 }
                i = end + 1
            }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        let rate = Double(lines) / max(elapsed, 1e-9)
        if json {
            let out: JSONValue = [
                "lines": .int(Int64(lines)), "recognized": .int(Int64(recognized)), "signals": .int(Int64(signals)),
                "threats": .int(Int64(bans.count)), "seconds": .double(elapsed), "lines_per_second": .double(rate),
                "tracked": .int(Int64(engine.tracked)), "evicted": .int(Int64(engine.evictions)),
                "stale_signals": .int(Int64(stale)),
                "bans": .array(
                    bans.map {
                        [
                            "address": .string($0.address.description), "at": .string(ISOTime.format($0.at)),
                            "scenario": .string($0.scenario),
                        ]
                    }
                ),
            ]
            print(out.jsonText)
            return
        }
        print("\(lines) lines (\(recognized) recognized), \(signals) signals, \(bans.count) bans")
        for b in bans { print("  ban \(b.address) at \(ISOTime.format(b.at)) (\(b.scenario))") }
        print(String(format: "%.3f s, %.0f lines/s", elapsed, rate))
    }
}
