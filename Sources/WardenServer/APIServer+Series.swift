import Foundation
import HTTPTypes
import Hummingbird
import WardenCore
import WardenStore

extension APIServer {
    func addSeriesRoutes(_ router: Router<APIContext>) {
        let d = dependencies
        router.get("/v1/series") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let limit = try APIServer.intParameter(params, "limit", default: 1000, range: 1...10_000)
            let prefix = params.value("prefix")
            let store = d.store
            let list = try await bounded(context, timeout: d.api.queryTimeout) {
                try await store.series(prefix: prefix, limit: limit)
            }
            return try APIServer.json(["series": list.map(SeriesSummary.init)])
        }
        router.get("/v1/series/{name}") { request, context -> Response in
            _ = try context.require(.viewer)
            let name = try context.pathParameter("name")
            guard SampleRules.isValidSeriesName(name) else {
                throw APIError.badRequest("'\(name)' is not a valid series name", field: "name")
            }
            let params = request.uri.queryParameters
            let now = d.clock.wallTime()
            let to = try APIServer.time(params, "until", now: now) ?? now
            let from = try APIServer.time(params, "since", now: now) ?? to.addingTimeInterval(-3600)
            guard from < to else { throw APIError.badRequest("since must be before until", field: "since") }
            var step = Duration.seconds(max(1, Int64((to.timeIntervalSince(from) / 300).rounded(.up))))
            if let text = params.value("step") {
                guard let s = DurationFormat.parse(text), s >= .milliseconds(1) else {
                    throw APIError.badRequest("found '\(text)'; expected a duration such as 10s or 1m", field: "step")
                }
                step = s
            }
            let steps = Int((to.timeIntervalSince(from) / step.seconds).rounded(.up))
            guard steps <= 100_000 else {
                throw APIError.badRequest("the range holds more than 100000 steps; use a larger step", field: "step")
            }
            var labels: [String: String] = [:]
            for pair in params.values("label") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, SampleRules.isValidLabelName(kv[0]) else {
                    throw APIError.badRequest("found '\(pair)'; expected label=NAME=VALUE", field: "label")
                }
                labels[kv[0]] = kv[1]
            }
            // At most max_query_series series, and no more than max_query_points points in all.
            let maxSeries = min(d.api.maxQuerySeries, max(1, d.api.maxQueryPoints / max(1, steps)))
            let query = SeriesQuery(name: name, labels: labels, from: from, to: to, step: step, maxSeries: maxSeries)
            let store = d.store
            let results: [SeriesResult]
            do {
                results = try await bounded(context, timeout: d.api.queryTimeout) { try await store.query(query) }
            } catch let limit as SeriesQueryLimit {
                throw APIError(
                    .badRequest,
                    "too_many_series",
                    "more than \(limit.limit) series match at \(steps) steps each (api.max_query_series, api.max_query_points); filter by label, shorten the range or raise the step",
                    field: limit.limit < d.api.maxQuerySeries ? "step" : "label"
                )
            }
            return try APIServer.json(
                SeriesAnswer(
                    name: name,
                    from: from,
                    to: to,
                    stepSeconds: step.seconds,
                    series: results.map { SeriesPoints(labels: $0.key.labelDictionary, points: $0.buckets) }
                )
            )
        }
    }
}

struct SeriesSummary: Encodable {
    var name: String
    var labels: [String: String]
    var lastTime: Date?
    var lastValue: Double?

    init(_ info: SeriesInfo) {
        name = info.key.name
        labels = info.key.labelDictionary
        lastTime = info.lastTime
        lastValue = info.lastValue
    }

    enum CodingKeys: String, CodingKey {
        case name, labels
        case lastTime = "last_time"
        case lastValue = "last_value"
    }
}

struct SeriesAnswer: Encodable {
    var name: String
    var from: Date
    var to: Date
    var stepSeconds: Double
    var series: [SeriesPoints]

    enum CodingKeys: String, CodingKey {
        case name, from, to, series
        case stepSeconds = "step_seconds"
    }
}

struct SeriesPoints: Encodable {
    var labels: [String: String]
    var points: [SeriesBucket]
}
