import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import WardenCore
import WardenStore

extension APIServer {
    func addEventRoutes(_ router: Router<APIContext>) {
        let d = dependencies
        let metrics = self.metrics
        router.get("/v1/events") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            var query = try APIServer.eventFilter(params, now: d.clock.wallTime())
            query.limit = try APIServer.intParameter(params, "limit", default: 100, range: 1...10_000)
            let order = params.value("order") ?? "asc"
            guard order == "asc" || order == "desc" else {
                throw APIError.badRequest("found '\(order)'; expected asc or desc", field: "order")
            }
            query.newestFirst = order == "desc"
            if let cursor = params.value("cursor") {
                guard let id = Int64(cursor), id >= 0 else {
                    throw APIError.badRequest(
                        "found '\(cursor)'; the cursor is the next_cursor of a previous page",
                        field: "cursor"
                    )
                }
                if query.newestFirst { query.beforeID = id } else { query.afterID = id }
            }
            let events = try await d.store.events(matching: query)
            let next = events.count == query.limit ? events.last.map { String($0.id) } : nil
            return try APIServer.json(EventPage(events: events, nextCursor: next))
        }

        router.get("/v1/events/stream") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            let filter = try APIServer.eventFilter(params, now: d.clock.wallTime())
            var resume: Int64?
            if let text = request.headers[HTTPField.Name("Last-Event-ID")!] ?? params.value("last_event_id") {
                guard let id = Int64(text), id >= 0 else {
                    throw APIError.badRequest(
                        "found '\(text)'; Last-Event-ID is the id of the last event received",
                        field: "Last-Event-ID"
                    )
                }
                resume = id
            }
            // Subscribe first, then make sure the store holds everything published before: the
            // stored history and the live stream then meet without a gap.
            let subscription = d.bus.subscribe(name: "sse", capacity: 10_000) {
                filter.matches(Event(id: .max, time: $0.time, type: $0.type, source: $0.source, subject: $0.subject))
            }
            let liveFrom = d.bus.lastID
            await d.recorder.waitUntilCommitted(liveFrom)
            let store = d.store
            let resumeFrom = resume
            let body = ResponseBody { writer in
                metrics.sseClients.increment()
                defer { metrics.sseClients.decrement() }
                var last = resumeFrom ?? liveFrom
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                if let resumeFrom {
                    var q = filter
                    q.afterID = resumeFrom
                    q.limit = 1000
                    while true {
                        let page = try await store.events(matching: q).filter { $0.id <= liveFrom }
                        for event in page { try await writer.write(APIServer.sse(event)) }
                        guard let lastOfPage = page.last else { break }
                        last = lastOfPage.id
                        q.afterID = lastOfPage.id
                        if page.count < 1000 { break }
                    }
                    last = max(last, liveFrom)
                }
                try await withGracefulShutdownHandler {
                    while !Task.isCancelled {
                        let batch = await APIServer.nextBatch(subscription, heartbeat: .seconds(15))
                        guard let batch else { break }
                        if batch.isEmpty {
                            try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                            continue
                        }
                        for event in batch where event.id > last {
                            try await writer.write(APIServer.sse(event))
                            last = event.id
                        }
                    }
                } onGracefulShutdown: {
                    subscription.finish()
                }
                subscription.cancel()
                try await writer.finish(nil)
            }
            return APIServer.eventStream(body)
        }
    }

    /// The next events, [] after `heartbeat` without any, nil when the subscription ended.
    static func nextBatch(_ subscription: FanOutSubscription<Event>, heartbeat: Duration) async -> [Event]? {
        await withTaskGroup(of: [Event]?.self) { group in
            group.addTask {
                let batch = await subscription.nextBatch(max: 256)
                return batch.isEmpty ? nil : batch
            }
            group.addTask {
                try? await SystemClock().sleep(for: heartbeat)
                return []
            }
            var result: [Event]? = []
            var first = true
            for await value in group {
                if first {
                    first = false
                    result = value
                    group.cancelAll()
                } else if let value, !value.isEmpty {
                    // The reader finished after being told to stop: keep what it took.
                    result = (result ?? []) + value
                }
            }
            return result
        }
    }

    package static func sse(_ event: Event) throws -> ByteBuffer {
        let data = try APICoding.encoder().encode(event)
        var buffer = ByteBuffer(string: "id: \(event.id)\nevent: \(event.type)\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }

    /// `type`, `subject`, `since` and `until` from a query string.
    package static func eventFilter(_ params: Parameters, now: Date) throws -> EventQuery {
        var q = EventQuery()
        q.types = params.values("type").flatMap { $0.split(separator: ",").map(String.init) }
        for t in q.types where t != "*" && !t.allSatisfy({ $0.isLetter || $0.isNumber || "._-*".contains($0) }) {
            throw APIError.badRequest(
                "found '\(t)'; a type is dotted words such as service.exited or service.*",
                field: "type"
            )
        }
        q.subject = params.value("subject")
        q.since = try time(params, "since", now: now)
        q.until = try time(params, "until", now: now)
        return q
    }

    /// An ISO 8601 time, or a duration meaning that long ago (`1h`).
    static func time(_ params: Parameters, _ name: String, now: Date) throws -> Date? {
        guard let text = params.value(name) else { return nil }
        if let d = APICoding.parseDate(text) { return d }
        if let ago = DurationFormat.parse(text) { return now.addingTimeInterval(-ago.seconds) }
        throw APIError.badRequest(
            "found '\(text)'; expected an ISO 8601 time or a duration such as 1h (meaning 1h ago)",
            field: name
        )
    }

    package static func intParameter(
        _ params: Parameters,
        _ name: String,
        default value: Int,
        range: ClosedRange<Int>
    ) throws -> Int {
        guard let text = params.value(name) else { return value }
        guard let v = Int(text), range.contains(v) else {
            throw APIError.badRequest(
                "found '\(text)'; expected a whole number from \(range.lowerBound) to \(range.upperBound)",
                field: name
            )
        }
        return v
    }
}

/// One page of events.
struct EventPage: Encodable {
    var events: [Event]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case events
        case nextCursor = "next_cursor"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(events, forKey: .events)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
}
