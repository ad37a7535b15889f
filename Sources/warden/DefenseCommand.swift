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

/// Reads a whole log through a parser and the threat engine, as `warden run` would, and reports
/// the rate and what it found. For measuring, and for trying a parser on a real log.
struct DefenseScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Run a log file through a parser and the threat scenarios; print lines/s and the threats."
    )

    @Argument(help: "The log file.") var file: String
    @Option(help: "sshd, nginx or apache.") var parser: String = "sshd"
    @Option(help: "Addresses tracked at once (100...10000000), as defense.max_addresses.")
    var maxAddresses: Int = DefenseSpec().maxAddresses
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (100...10_000_000).contains(maxAddresses) else {
            throw ValidationError("--max-addresses: found \(maxAddresses); expected 100 to 10000000")
        }
    }

    func run() async throws {
        guard let p = LineParsers.make(parser, patterns: []) else {
            printError("warden: no parser '\(parser)'; expected sshd, nginx or apache")
            throw ExitCode(1)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("warden: cannot read \(file)")
            throw ExitCode(1)
        }
        var spec = DefenseSpec()
        spec.maxAddresses = maxAddresses
        var engine = ThreatEngine(spec)
        var lines = 0
        var recognized = 0
        var signals = 0
        var threats: [IPAddress] = []
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
                let known = p.parse(line) { name, address in
                    signals += 1
                    // Log time is not known here: one second per 1000 lines keeps buckets leaking.
                    let s = DefenseSignal(address: address, name: name, evidence: "")
                    if let t = engine.observe(s, now: Double(lines) / 1000), t.atThreshold {
                        threats.append(t.address)
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
                "threats": .int(Int64(threats.count)), "seconds": .double(elapsed), "lines_per_second": .double(rate),
                "tracked": .int(Int64(engine.tracked)), "evicted": .int(Int64(engine.evictions)),
            ]
            print(out.jsonText)
            return
        }
        print("\(lines) lines (\(recognized) recognized), \(signals) signals, \(threats.count) threats")
        print(String(format: "%.3f s, %.0f lines/s", elapsed, rate))
    }
}
