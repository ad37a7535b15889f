import ArgumentParser
import Foundation
import WardenCore
import WardenSLO

/// `warden slo replay`: an SLO's alerts and notifications over recorded traffic.
struct SLOReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract:
            "Replay recorded traffic (CSV: time,good,total per interval) through an SLO's burn-rate alerts and the alert dispatcher.",
        discussion: """
            Prints each alert rule that starts or stops firing and each notification the dispatcher
            would send (one route, grouped by alertname and slo), as the running agent would have
            raised them. Time is the CSV's: a month replays in seconds. The rules are the Site
            Reliability Workbook's (14.4x over 1h/5m and 6x over 6h/30m page, 1x over 3d/6h a ticket).
            """
    )

    @Argument(help: "A CSV file: a header, then unix-seconds,good,total per row, in time order.") var file: String
    @Option(help: "The objective (99.9% or 0.999).") var objective = "99.9%"
    @Option(help: "The SLO's window.") var window = "30d"
    @Option(help: "The route's group_wait.") var groupWait = "30s"
    @Option(help: "The route's group_interval.") var groupInterval = "5m"
    @Option(help: "The route's repeat_interval.") var repeatInterval = "4h"
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        var objectiveText = objective.trimmingCharacters(in: .whitespaces)
        var scale = 1.0
        if objectiveText.hasSuffix("%") {
            objectiveText.removeLast()
            scale = 100
        }
        guard let raw = Double(objectiveText), raw / scale > 0, raw / scale < 1 else {
            printError("warden slo replay: --objective: found '\(objective)'; expected a share such as 99.9% or 0.999")
            throw ExitCode(1)
        }
        func duration(_ text: String, _ name: String) throws -> Duration {
            guard let d = DurationFormat.parse(text), d >= .zero else {
                printError("warden slo replay: --\(name): found '\(text)'; expected \(DurationFormat.expected)")
                throw ExitCode(1)
            }
            return d
        }
        let spec = SLOSpec(
            name: "replay",
            service: "replay",
            objective: raw / scale,
            window: try duration(window, "window")
        )
        var route = RouteSpec(receiver: "replay")
        route.groupBy = ["alertname", "slo"]
        route.groupWait = try duration(groupWait, "group-wait")
        route.groupInterval = max(.seconds(1), try duration(groupInterval, "group-interval"))
        route.repeatInterval = max(.seconds(1), try duration(repeatInterval, "repeat-interval"))
        let rows = try readRows()
        for output in SLOReplay(spec: spec, route: route).run(rows) {
            switch output {
            case .alert(let time, let severity, let firing, let long, let short, let burn):
                if json {
                    print(
                        JSONValue.object([
                            "kind": "alert", "time": .int(Int64(time.timeIntervalSince1970)),
                            "state": .string(firing ? "firing" : "resolved"), "severity": .string(severity),
                            "long": .string(long), "short": .string(short), "burn": .double(burn),
                        ]).jsonText
                    )
                } else {
                    print(
                        "\(ISOTime.format(time))  alert \(severity) \(long)/\(short) \(firing ? "firing" : "resolved") (burn \(String(format: "%.1f", burn))x)"
                    )
                }
            case .notification(let time, let status, let severity, let alerts):
                if json {
                    print(
                        JSONValue.object([
                            "kind": "notification", "time": .int(Int64(time.timeIntervalSince1970)),
                            "status": .string(status), "severity": .string(severity), "alerts": .int(Int64(alerts)),
                        ]).jsonText
                    )
                } else {
                    print(
                        "\(ISOTime.format(time))  notify \(status) \(severity) (\(alerts) alert\(alerts == 1 ? "" : "s"))"
                    )
                }
            }
        }
    }

    /// The rows, checked: three numbers each, times increasing, counts finite and not negative,
    /// good at most total; at most 10 million rows.
    func readRows() throws -> [SLOReplay.Row] {
        guard let handle = FileHandle(forReadingAtPath: file) else {
            printError("warden slo replay: cannot read \(file)")
            throw ExitCode(1)
        }
        let data = try handle.readToEnd() ?? Data()
        guard data.count <= 1 << 30 else {
            printError("warden slo replay: \(file) is larger than 1 GiB")
            throw ExitCode(1)
        }
        var rows: [SLOReplay.Row] = []
        var last = -Double.infinity
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if n == 0, Double(fields.first ?? "") == nil { continue }  // the header
            guard fields.count == 3, let t = Double(fields[0]), let good = Double(fields[1]),
                let total = Double(fields[2]), t.isFinite, good.isFinite, total.isFinite, good >= 0, total >= good,
                t > last
            else {
                printError(
                    "warden slo replay: \(file):\(n + 1): expected time,good,total with times increasing and 0 <= good <= total, found '\(line.prefix(80))'"
                )
                throw ExitCode(1)
            }
            guard rows.count < 10_000_000 else {
                printError("warden slo replay: \(file) has more than 10 million rows")
                throw ExitCode(1)
            }
            last = t
            rows.append(SLOReplay.Row(time: Date(timeIntervalSince1970: t), good: good, total: total))
        }
        return rows
    }
}
