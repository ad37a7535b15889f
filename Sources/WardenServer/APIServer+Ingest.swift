import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore

extension APIServer {
    func addIngestRoutes(_ router: Router<APIContext>) {
        router.post("/v1/ingest") { request, context -> Response in
            try await ingest(request, context) { (bytes, rules) throws(MalformedBody) in
                try JSONSampleParser.parse(bytes, rules: rules)
            }
        }
        router.post("/v1/ingest/prometheus") { request, context -> Response in
            try await ingest(request, context) { bytes, rules in PrometheusTextParser.parse(bytes, rules: rules) }
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
        let rules = IngestRules(now: d.clock.wallTime(), maxAge: d.samples.raw, maxFuture: d.samples.maxFuture)
        let result: IngestResult
        do {
            result = try buffer.withUnsafeReadableBytes { bytes throws(MalformedBody) in try parse(bytes, rules) }
        } catch {
            throw APIError.badRequest(error.message, field: error.field)
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
            rejected: Array(result.rejected.prefix(1000)),
            rejectedCount: result.rejected.count
        )
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
