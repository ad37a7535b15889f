import ArgumentParser
import Foundation
import WardenCore
import WardenServer
import WardenStore

struct SeriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "series",
        abstract: "List telemetry series, or show one over a time range (min/max/avg/last per step)."
    )

    @OptionGroup var spec: SpecOptions
    @Argument(help: "The series; without it, the known series are listed.") var name: String?
    @Option(help: "Start of the range: a duration ago (1h) or an ISO 8601 time.") var since: String = "1h"
    @Option(help: "End of the range (default: now).") var until: String?
    @Option(help: "Step (default: about 60 steps over the range).") var step: String?
    @Option(name: .customLong("label"), help: "Only series with this label, as NAME=VALUE. Repeatable.") var labels:
        [String] = []
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var fleet: FleetOptions

    func run() async throws {
        let reader = try fleet.node.map { _ in try FleetReader("series", fleet, spec) }
        let target = reader == nil ? try Target(spec) : nil
        guard let name else { return try await list(target, reader) }
        let now = Date()
        guard let from = Self.time(since, now: now) else {
            printError("warden: --since: found '\(since)'; expected a duration such as 1h or an ISO 8601 time")
            throw ExitCode(1)
        }
        let to =
            try until.map { text -> Date in
                guard let d = Self.time(text, now: now) else {
                    printError("warden: --until: found '\(text)'; expected a duration or an ISO 8601 time")
                    throw ExitCode(1)
                }
                return d
            } ?? now
        let stepDuration =
            step.flatMap(DurationFormat.parse)
            ?? .seconds(max(1, Int64((to.timeIntervalSince(from) / 60).rounded(.up))))
        var filter: [String: String] = [:]
        for pair in labels {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else {
                printError("warden: --label: found '\(pair)'; expected NAME=VALUE")
                throw ExitCode(1)
            }
            filter[kv[0]] = kv[1]
        }
        var results: [(labels: [String: String], points: [SeriesBucket])] = []
        var params = [
            "since=\(queryValue(APICoding.format(from)))", "until=\(queryValue(APICoding.format(to)))",
            "step=\(queryValue(DurationFormat.format(stepDuration)))",
        ]
        for (k, v) in filter.sorted(by: { $0.key < $1.key }) { params.append("label=\(queryValue("\(k)=\(v)"))") }
        if let target, !target.isRunning {
            let store = try target.store()
            let found = try await store.query(
                SeriesQuery(name: name, labels: filter, from: from, to: to, step: stepDuration)
            )
            try await store.close()
            if json {
                print(String(decoding: try APICoding.encoder().encode(found), as: UTF8.self))
                return
            }
            results = found.map { ($0.key.labelDictionary, $0.buckets) }
        } else {
            let body: Data
            if let reader, let node = fleet.node {
                params.append("node=\(queryValue(node))")
                body = try await reader.get("/v1/fleet/series/\(queryValue(name))?" + params.joined(separator: "&"))
            } else {
                body = try await target!.call("GET", "/v1/series/\(queryValue(name))?" + params.joined(separator: "&"))
                    .body
            }
            if json {
                print(String(decoding: body, as: UTF8.self))
                return
            }
            results = try APICoding.decoder().decode(SeriesBody.self, from: body).series.map { ($0.labels, $0.points) }
        }
        if results.isEmpty {
            print("no series named \(name)\(filter.isEmpty ? "" : " with those labels")")
            return
        }
        for r in results {
            print(SeriesKey(name: name, labels: r.labels).text)
            var table = Table(header: ["TIME", "MIN", "MAX", "AVG", "LAST", "COUNT"])
            for p in r.points {
                table.rows.append([
                    APICoding.format(p.start), Self.number(p.min), Self.number(p.max), Self.number(p.avg),
                    Self.number(p.last), String(p.count),
                ])
            }
            print(table.render())
            print()
        }
    }

    func list(_ target: Target?, _ reader: FleetReader?) async throws {
        var rows: [[String]] = []
        if let target, !target.isRunning {
            let store = try target.store()
            for s in try await store.series(prefix: nil, limit: 10_000) {
                rows.append([s.key.text, s.lastValue.map(Self.number) ?? "-", s.lastTime.map(APICoding.format) ?? "-"])
            }
            try await store.close()
        } else {
            let body: Data
            if let reader, let node = fleet.node {
                body = try await reader.get("/v1/fleet/series?limit=10000&node=\(queryValue(node))")
            } else {
                body = try await target!.call("GET", "/v1/series").body
            }
            if json {
                print(String(decoding: body, as: UTF8.self))
                return
            }
            for s in try APICoding.decoder().decode(SeriesListBody.self, from: body).series {
                rows.append([
                    SeriesKey(name: s.name, labels: s.labels).text, s.lastValue.map(Self.number) ?? "-",
                    s.lastTime.map(APICoding.format) ?? "-",
                ])
            }
        }
        var table = Table(header: ["SERIES", "LAST VALUE", "LAST TIME"])
        table.rows = rows
        print(table.render())
    }

    static func time(_ text: String, now: Date) -> Date? {
        if let d = APICoding.parseDate(text) { return d }
        return DurationFormat.parse(text).map { now.addingTimeInterval(-$0.seconds) }
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.4g", v)
    }
}

struct SeriesBody: Decodable {
    struct Points: Decodable {
        var labels: [String: String]
        var points: [SeriesBucket]
    }
    var series: [Points]
}

struct SeriesListBody: Decodable {
    struct Item: Decodable {
        var name: String
        var labels: [String: String]
        var lastTime: Date?
        var lastValue: Double?
        enum CodingKeys: String, CodingKey {
            case name, labels
            case lastTime = "last_time"
            case lastValue = "last_value"
        }
    }
    var series: [Item]
}
