import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore
import WardenIngest

extension APIServer {
    func addIngestRoutes(_ router: Router<APIContext>) {
        router.post("/v1/ingest") { request, context -> Response in
            try await ingest(request, context) { (bytes, rules) throws(MalformedBody) in
                try JSONSampleParser.parse(bytes, rules: rules)
            }
        }
        router.post("/v1/ingest/prometheus") { request, context -> Response in
            // OpenMetrics when the body says so (Content-Type application/openmetrics-text) or
            // the query asks for it (?format=openmetrics).
            let openMetrics =
                request.headers[.contentType]?.lowercased().hasPrefix("application/openmetrics-text") == true
                || request.uri.queryParameters.value("format") == "openmetrics"
            return try await ingest(request, context) { bytes, rules in
                PrometheusTextParser.parse(bytes, rules: rules, openMetrics: openMetrics)
            }
        }
        router.post("/v1/ingest/influx") { request, context -> Response in
            let text = request.uri.queryParameters.value("precision") ?? "ns"
            guard let precision = InfluxLineParser.Precision(rawValue: text) else {
                throw APIError.badRequest("found '\(text)'; expected ns, us, ms or s", field: "precision")
            }
            return try await ingest(request, context) { bytes, rules in
                InfluxLineParser.parse(bytes, precision: precision, rules: rules)
            }
        }
    }

    /// Parses, validates and commits one ingest request. 200 means every accepted sample is
    /// committed; rejected items are listed with their reason. 400 when nothing could be accepted.
    func ingest(
        _ request: Request,
        _ context: APIContext,
        parse: (UnsafeRawBufferPointer, IngestRules) throws(MalformedBody) -> IngestResult
    ) async throws -> Response {
        let identity = try context.require(.operator, write: true)
        let buffer = try await body(request)
        if buffer.readableBytes == 0 {
            throw APIError.badRequest("the body is empty; send the samples to ingest", field: "body")
        }

        let d = dependencies
        let rules = IngestRules(now: d.clock.wallTime(), samples: d.samples)
        var result: IngestResult
        do {
            result = try buffer.withUnsafeReadableBytes { bytes throws(MalformedBody) in try parse(bytes, rules) }
        } catch {
            throw APIError.badRequest(error.message, field: error.field)
        }
        // New series only while the store holds fewer than samples.max_series.
        var refusedForSeries = 0
        if !result.batch.isEmpty {
            let admitted = await d.store.admitSeries(result.batch.series, limit: d.samples.maxSeries)
            if admitted.contains(false) {
                refusedForSeries = result.refuse(
                    series: admitted,
                    reason:
                        "the store holds its limit of \(d.samples.maxSeries) series (samples.max_series); new series are refused until old ones expire"
                )
                metrics.seriesRefused.increment(by: refusedForSeries)
            }
        }
        if !result.batch.isEmpty {
            try await d.store.appendSamples(result.batch)
            d.sampleFeed.send(result.batch)
        }
        metrics.ingestRequests.increment()
        metrics.samplesAccepted.increment(by: result.accepted)
        metrics.samplesRejected.increment(by: result.rejected.count)
        ingestAudit.add(actor: identity.name, samples: result.accepted, rejected: result.rejected.count)
        let answer = IngestAnswer(
            accepted: result.accepted,
            rejected: Array(result.rejected.sorted { $0.item < $1.item }.prefix(1000)),
            rejectedCount: result.rejected.count
        )
        if result.accepted == 0 && refusedForSeries > 0 && refusedForSeries == result.rejected.count {
            // Nothing went in, only for the series limit: the client is over a quota, not wrong.
            throw APIError(
                .tooManyRequests,
                "series_limit",
                "the store holds its limit of \(d.samples.maxSeries) series (samples.max_series); \(refusedForSeries) samples of new series were refused",
                field: "series"
            )
        }
        let allBad = result.accepted == 0 && !result.rejected.isEmpty
        return try APIServer.json(answer, status: allBad ? .badRequest : .ok)
    }
}

/// What an ingest request answers.
struct IngestAnswer: Encodable {
    var accepted: Int
    /// The first 1000 rejections.
    var rejected: [IngestResult.Rejection]
    var rejectedCount: Int

    enum CodingKeys: String, CodingKey {
        case accepted, rejected
        case rejectedCount = "rejected_count"
    }
}
