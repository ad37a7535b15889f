import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// What an agent ships, stored: its contact, its events, the states and fleet decisions they make,
/// and its telemetry.
extension PostgresStore {
    /// Records what an agent shipped, atomically: without telemetry in one statement (one round
    /// trip: the contact, the events, each service's, incident's and ban's state as of its latest
    /// event, and the fleet decisions among them, announced at commit); with telemetry in one
    /// transaction with it.
    ///
    /// - Returns: the highest point id stored for `node` (0 without telemetry); points at or
    ///   below it were stored before and are skipped.
    @discardableResult
    public func ingest(
        _ events: [Event],
        samples: SequencedSamples? = nil,
        node: String,
        labels: [String: String],
        address: String,
        at time: Date
    ) async throws -> Int64 {
        var rows = IngestRows(events, node: node)
        rows.now = clock.wallTime()
        let query = Self.ingestQuery(
            rows,
            node: node,
            labels: labels,
            address: address,
            at: time
        )
        let logger = self.logger
        guard let samples, !samples.points.isEmpty else {
            try await client.query(query, logger: logger)
            return 0
        }
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(query, logger: logger)
            return try await Self.storeSamples(samples, node: node, on: connection, logger: logger)
        }
    }

    static func ingestQuery(
        _ rows: IngestRows,
        node: String,
        labels: [String: String],
        address: String,
        at time: Date
    ) -> PostgresQuery {
        let labelText = StoreValues.labelsText(SeriesKey(name: node, labels: labels))
        let micros = StoreValues.micros(time)
        let e = rows.events
        let s = rows.states
        let d = rows.decisions
        // A replayed event (the same node and id) replaces itself; the latest event of a state
        // wins whatever order batches arrive in (an incident keeps the time it opened and its
        // title); a decision is recorded once per origin event, and announced when it is new.
        return """
            WITH contact AS (
                INSERT INTO nodes (name, labels, first_seen, last_contact, address)
                VALUES (\(node), \(labelText), \(micros), \(micros), \(address))
                ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, address = excluded.address,
                    last_contact = GREATEST(nodes.last_contact, excluded.last_contact)
                RETURNING 1
            ), stored AS (
                INSERT INTO events (node, id, time, type, source, subject, payload)
                SELECT \(node), * FROM unnest(\(e.ids)::bigint[], \(e.times)::bigint[], \(e.types)::text[],
                    \(e.sources)::text[], \(e.subjects)::text[], \(e.payloads)::text[])
                ON CONFLICT (node, id) DO UPDATE SET time = excluded.time, type = excluded.type,
                    source = excluded.source, subject = excluded.subject, payload = excluded.payload
                RETURNING 1
            ), states AS (
                INSERT INTO fleet_state (node, kind, key, subject, type, since, time, event_id, until, detail)
                SELECT \(node), k, y, s, t, tm, tm, i, u, d
                FROM unnest(\(s.kinds)::text[], \(s.keys)::text[], \(s.subjects)::text[], \(s.types)::text[],
                    \(s.times)::bigint[], \(s.ids)::bigint[], \(s.untils)::bigint[], \(s.details)::text[])
                    AS r(k, y, s, t, tm, i, u, d)
                ON CONFLICT (node, kind, key) DO UPDATE SET
                    subject = excluded.subject, type = excluded.type, time = excluded.time,
                    event_id = excluded.event_id, until = excluded.until,
                    since = CASE WHEN fleet_state.kind = 'incident' THEN LEAST(fleet_state.since, excluded.since)
                        ELSE excluded.since END,
                    detail = CASE WHEN excluded.detail = '' THEN fleet_state.detail ELSE excluded.detail END
                WHERE excluded.event_id > fleet_state.event_id
                RETURNING 1
            ), decided AS (
                INSERT INTO fleet_decisions (kind, address, until, reason, origin, origin_event, created)
                SELECT k, a, u, r, \(node), o, \(StoreValues.micros(rows.now))
                FROM unnest(\(d.kinds)::text[], \(d.addresses)::text[], \(d.untils)::bigint[], \(d.reasons)::text[],
                    \(d.originEvents)::bigint[]) AS r(k, a, u, r, o)
                ON CONFLICT (origin, origin_event) DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM contact) + (SELECT COUNT(*) FROM stored) + (SELECT COUNT(*) FROM states),
                pg_notify(\(Self.decisionChannel), '')
            FROM (SELECT 1) AS one WHERE EXISTS (SELECT 1 FROM decided)
            """
    }
}

/// A batch's events as the columns of the rows they make: the events themselves, the states
/// they leave services, incidents and bans in, and the fleet decisions among them.
struct IngestRows {
    struct Events {
        var ids: [Int64] = [], times: [Int64] = [], types: [String] = [], sources: [String] = []
        var subjects: [String] = [], payloads: [String] = []
    }
    struct States {
        var kinds: [String] = [], keys: [String] = [], subjects: [String] = [], types: [String] = []
        var times: [Int64] = [], ids: [Int64] = [], untils: [Int64] = [], details: [String] = []
    }
    struct Decisions {
        var kinds: [String] = [], addresses: [String] = [], untils: [Int64] = [], reasons: [String] = []
        var originEvents: [Int64] = []
    }

    var events = Events()
    var states = States()
    var decisions = Decisions()
    /// When the decisions were made.
    var now = Date()

    init(_ list: [Event], node: String) {
        var latest:
            [String: (
                kind: String, key: String, subject: String, type: String, time: Int64, id: Int64, until: Int64,
                detail: String
            )] = [:]
        for e in list {
            let time = StoreValues.micros(e.time)
            events.ids.append(e.id)
            events.times.append(time)
            events.types.append(e.type)
            events.sources.append(e.source)
            events.subjects.append(e.subject)
            events.payloads.append(e.payload.jsonText)
            if let state = Self.state(of: e, at: time) {
                latest[state.kind + "\u{0}" + state.key] = state
            }
            if let decision = Self.decision(from: e, at: time, node: node) {
                decisions.kinds.append(decision.kind)
                decisions.addresses.append(e.subject)
                decisions.untils.append(decision.until)
                decisions.reasons.append(decision.reason)
                decisions.originEvents.append(e.id)
            }
        }
        for row in latest.values {
            states.kinds.append(row.kind)
            states.keys.append(row.key)
            states.subjects.append(row.subject)
            states.types.append(row.type)
            states.times.append(row.time)
            states.ids.append(row.id)
            states.untils.append(row.until)
            states.details.append(String(row.detail.prefix(512)))
        }
    }

    /// The state an event leaves a service, an incident or a ban in; nil for other events.
    static func state(
        of e: Event,
        at time: Int64
    ) -> (
        kind: String, key: String, subject: String, type: String, time: Int64, id: Int64, until: Int64, detail: String
    )? {
        if let state = PostgresStore.serviceStates[e.type] {
            return ("service", e.subject, e.subject, state, time, e.id, 0, e.type)
        }
        if e.type.hasPrefix("incident."), let id = e.payload["id"]?.stringValue, !id.isEmpty {
            return (
                "incident", String(id.prefix(256)), e.subject, e.type, time, e.id, 0,
                e.payload["title"]?.stringValue ?? ""
            )
        }
        if e.type == "ban.applied" {
            let seconds = max(0, min(e.payload["seconds"]?.intValue ?? 0, 100 * 365 * 86_400))
            return (
                "ban", e.subject, e.subject, e.type, time, e.id, time + seconds * 1_000_000,
                e.payload["reason"]?.stringValue ?? ""
            )
        }
        // Where a node stands with a commit of its spec repository: the waves of a rollout
        // are decided from these (`PostgresStore.admit`).
        if e.type == "gitops.settled" || e.type == "gitops.rolled_back", e.source == "gitops",
            let commit = e.payload["commit"]?.stringValue, RolloutAnswer.isCommitID(commit)
        {
            let reasons = e.payload["reasons"]?.arrayValue?.compactMap(\.stringValue) ?? []
            return ("rollout", commit, e.subject, e.type, time, e.id, 0, reasons.joined(separator: "; "))
        }
        if e.type == "ban.lifted" || e.type == "ban.expired" {
            return ("ban", e.subject, e.subject, e.type, time, e.id, 0, "")
        }
        return nil
    }

    /// The fleet decision a node's own `ban.applied` or `ban.lifted` makes; nil for other events
    /// (and for the bans and lifts the fleet made the node apply: they would echo).
    static func decision(from e: Event, at time: Int64, node: String) -> (kind: String, until: Int64, reason: String)? {
        guard e.type == "ban.applied" || e.type == "ban.lifted" else { return nil }
        let by = e.payload["by"]?.stringValue ?? ""
        guard by != "fleet", IPAddress(e.subject) != nil else { return nil }
        if e.type == "ban.lifted" { return ("lift", 0, "lifted by \(by) on \(node)") }
        guard let seconds = e.payload["seconds"]?.intValue, seconds > 0 else { return nil }
        return ("ban", time + min(seconds, 100 * 365 * 86_400) * 1_000_000, e.payload["reason"]?.stringValue ?? "")
    }
}
