import Foundation
import PostgresNIO
import WardenCore
import WardenStore

/// Telemetry: series, raw samples and their 1-minute rollups, as in the SQLite store.
extension PostgresStore {
    public func appendSamples(_ batch: SampleBatch) async throws {
        if batch.isEmpty { return }
        var created: [(SeriesKey, Int64)] = []
        do {
            try await client.withTransaction(logger: logger) { connection in
                // Shared with other appends, exclusive with the rollup: the watermark holds until commit.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock_shared(7070002, hashtext(\(node)))",
                    logger: logger
                )
                var ids = [Int64](repeating: 0, count: batch.series.count)
                var fresh: [(SeriesKey, Int64)] = []
                for (i, key) in batch.series.enumerated() {
                    if let id = seriesCache.id(key) {
                        ids[i] = id
                        continue
                    }
                    let labels = StoreValues.labelsText(key)
                    // Created, or found when another writer (or a pruned cache) has it already.
                    let rows = try await connection.query(
                        """
                        WITH added AS (
                            INSERT INTO series (node, name, labels) VALUES (\(node), \(key.name), \(labels))
                            ON CONFLICT (node, name, labels) DO NOTHING RETURNING id
                        )
                        SELECT id FROM added
                        UNION ALL SELECT id FROM series WHERE node = \(node) AND name = \(key.name) AND labels = \(labels)
                        LIMIT 1
                        """,
                        logger: logger
                    )
                    for try await id in rows.decode(Int64.self) { ids[i] = id }
                    fresh.append((key, ids[i]))
                }
                let series = batch.points.map { ids[Int($0.series)] }
                let times = batch.points.map(\.time)
                let values = batch.points.map(\.value)
                try await Self.insertPoints(
                    series: series,
                    times: times,
                    values: values,
                    node: node,
                    on: connection,
                    logger: logger
                )
                created = fresh
            }
        } catch {
            seriesCache.unreserve(batch.series)
            throw error
        }
        seriesCache.commit(created)
    }

    public func admitSeries(_ keys: [SeriesKey], limit: Int) async -> [Bool] {
        seriesCache.admit(keys, limit: limit)
    }

    public func seriesCount() async -> Int { seriesCache.count }

    func loadSeries() async throws {
        let rows = try await client.query(
            "SELECT id, name, labels FROM series WHERE node = \(node)",
            logger: logger
        )
        for try await (id, name, labels) in rows.decode((Int64, String, String).self) {
            seriesCache.commit([(SeriesKey(name: name, labels: StoreValues.labels(fromText: labels)), id)])
        }
    }

    public func series(prefix: String?, limit: Int) async throws -> [SeriesInfo] {
        try await series(prefix: prefix, limit: limit, node: node)
    }

    /// The series of `node` (the control plane reads every node's).
    public func series(prefix: String?, limit: Int, node: String) async throws -> [SeriesInfo] {
        let from = prefix ?? ""
        let rows = try await client.query(
            """
            SELECT s.name, s.labels, l.t, l.v FROM series s
            LEFT JOIN LATERAL (SELECT t, v FROM samples WHERE series_id = s.id ORDER BY t DESC LIMIT 1) l ON true
            WHERE s.node = \(node) AND s.name >= \(from) AND s.name < \(from + "\u{10FFFF}")
            ORDER BY s.name, s.labels LIMIT \(Int64(max(0, limit)))
            """,
            logger: logger
        )
        var result: [SeriesInfo] = []
        for try await (name, labels, t, v) in rows.decode((String, String, Int64?, Double?).self) {
            result.append(
                SeriesInfo(
                    key: SeriesKey(name: name, labels: StoreValues.labels(fromText: labels)),
                    lastTime: t.map(StoreValues.date),
                    lastValue: v
                )
            )
        }
        return result
    }

    public func query(_ q: SeriesQuery) async throws -> [SeriesResult] {
        try await query(q, node: node)
    }

    /// A query of `node`'s series (the control plane reads every node's).
    public func query(_ q: SeriesQuery, node: String) async throws -> [SeriesResult] {
        let plan = SeriesPlan(
            from: StoreValues.micros(q.from),
            to: StoreValues.micros(q.to),
            step: max(1, q.step.nanoseconds / 1000),
            watermark: try await meta("rollup_watermark", node: node),
            rawCutoff: try await meta("raw_cutoff", node: node),
            hourWatermark: try await meta("rollup_watermark_1h", node: node)
        )
        let (origin, step) = (plan.origin, plan.step)
        // The label filter runs in SQL, and no more series than allowed are read.
        var sql = "SELECT id, labels FROM series WHERE node = $1 AND name = $2"
        var binds = PostgresBindings()
        binds.append(node)
        binds.append(q.name)
        for (name, value) in q.labels.sorted(by: { $0.key < $1.key }) {
            binds.append(name)
            binds.append(value)
            sql += " AND (labels::jsonb ->> $\(binds.count - 1)) = $\(binds.count)"
        }
        binds.append(Int64(q.maxSeries + 1))
        sql += " ORDER BY labels LIMIT $\(binds.count)"
        var matching: [(Int64, String)] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode((Int64, String).self)
        {
            matching.append(row)
        }
        if matching.count > q.maxSeries { throw SeriesQueryLimit(limit: q.maxSeries) }
        var results: [SeriesResult] = []
        for (id, labels) in matching {
            try Task.checkCancellation()
            var parts: [Int64: Partial] = [:]
            for (table, range) in [("samples_1h", plan.hours), ("samples_1m", plan.rollups)] {
                guard let range else { continue }
                let rows = try await client.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT bucket, min, max, sum, count, last, last_t FROM \(table)
                            WHERE series_id = $1 AND bucket >= $2 AND bucket < $3
                            """,
                        binds: {
                            var b = PostgresBindings()
                            b.append(id)
                            b.append(range.lowerBound)
                            b.append(range.upperBound)
                            return b
                        }()
                    ),
                    logger: logger
                )
                for try await (bucket, lo, hi, sum, count, last, lastT) in rows.decode(
                    (Int64, Double, Double, Double, Int64, Double, Int64).self
                ) {
                    let part = Partial(min: lo, max: hi, sum: sum, count: Int(count), last: last, lastT: lastT)
                    Partial.merge(part, at: plan.index(bucket), into: &parts)
                }
            }
            if let range = plan.raw {
                // Raw times are at or after the origin: the division is a floor.
                try await collect(
                    """
                    SELECT b, MIN(v), MAX(v), SUM(v), COUNT(*)::bigint, MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                    FROM (
                        SELECT (t - \(origin)) / \(step) AS b, t, v,
                            ROW_NUMBER() OVER (PARTITION BY (t - \(origin)) / \(step) ORDER BY t DESC) AS rn
                        FROM samples WHERE series_id = \(id) AND t >= \(range.lowerBound) AND t < \(range.upperBound)
                    ) r GROUP BY b
                    """,
                    into: &parts
                )
            }
            results.append(
                SeriesResult(
                    key: SeriesKey(name: q.name, labels: StoreValues.labels(fromText: labels)),
                    buckets: Partial.buckets(parts, from: origin, step: step)
                )
            )
        }
        return results
    }

    private func collect(_ query: PostgresQuery, into parts: inout [Int64: Partial]) async throws {
        for try await (b, lo, hi, sum, count, last, lastT) in try await client.query(query, logger: logger).decode(
            (Int64, Double, Double, Double, Int64, Double, Int64).self
        ) {
            Partial.merge(
                Partial(min: lo, max: hi, sum: sum, count: Int(count), last: last, lastT: lastT),
                at: b,
                into: &parts
            )
        }
    }

    /// Rolls up, then applies retention, for this node's series; rollups are idempotent per minute.
    public func rollUp(
        upTo: Date,
        rawBefore: Date,
        rollupsBefore: Date,
        hoursBefore: Date
    ) async throws
        -> RollupReport
    {
        try await rollUp(
            upTo: upTo,
            rawBefore: rawBefore,
            rollupsBefore: rollupsBefore,
            hoursBefore: hoursBefore,
            node: node
        )
    }

    /// Rolls up, then applies retention, for `node`'s series (the control plane does it for the
    /// telemetry its agents ship).
    public func rollUp(
        upTo: Date,
        rawBefore: Date,
        rollupsBefore: Date,
        hoursBefore: Date? = nil,
        node: String
    ) async throws -> RollupReport {
        let hoursBefore = min(hoursBefore ?? rollupsBefore, rollupsBefore)
        let minute: Int64 = 60_000_000
        let target = (StoreValues.micros(upTo) / minute) * minute
        let logger = self.logger
        let (report, gone) = try await client.withTransaction(logger: logger) {
            connection -> (RollupReport, [SeriesKey]) in
            func scalar(_ q: PostgresQuery) async throws -> Int64? {
                for try await v in try await connection.query(q, logger: logger).decode(Int64?.self) { return v }
                return nil
            }
            // One rollup at a time per node.
            try await connection.query("SELECT pg_advisory_xact_lock(7070002, hashtext(\(node)))", logger: logger)
            let earliest = try await scalar(
                """
                SELECT MIN(t) FROM samples WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                """
            )
            let watermark =
                try await scalar("SELECT value FROM meta WHERE node = \(node) AND key = 'rollup_watermark'")
                ?? earliest.map { ($0 / minute) * minute } ?? target
            if target > watermark {
                try await connection.query(
                    """
                    INSERT INTO samples_1m (series_id, bucket, min, max, sum, count, last, last_t)
                    SELECT series_id, bucket, MIN(v), MAX(v), SUM(v), COUNT(*), MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                    FROM (
                        SELECT series_id, (t / \(minute)) * \(minute) AS bucket, t, v,
                            ROW_NUMBER() OVER (PARTITION BY series_id, t / \(minute) ORDER BY t DESC) AS rn
                        FROM samples
                        WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                          AND t >= \(watermark) AND t < \(target)
                    ) r GROUP BY series_id, bucket
                    \(unescaped: Self.mergeRollup("samples_1m"))
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO meta (node, key, value) VALUES (\(node), 'rollup_watermark', \(target))
                    ON CONFLICT (node, key) DO UPDATE SET value = excluded.value
                    """,
                    logger: logger
                )
            }
            // Whole hours of rolled-up minutes into the 1-hour rollups.
            let hour = SeriesPlan.hour
            let hoursTarget = SeriesPlan.floor(max(target, watermark), hour)
            var storedHours = try await scalar(
                "SELECT value FROM meta WHERE node = \(node) AND key = 'rollup_watermark_1h'"
            )
            if storedHours == nil {
                storedHours =
                    try await scalar(
                        """
                        SELECT MIN(bucket) FROM samples_1m
                        WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                        """
                    ).map { SeriesPlan.floor($0, hour) }
            }
            let hoursFrom = storedHours ?? hoursTarget
            if hoursTarget > hoursFrom {
                try await connection.query(
                    """
                    INSERT INTO samples_1h (series_id, bucket, min, max, sum, count, last, last_t)
                    SELECT series_id, hb, MIN(min), MAX(max), SUM(sum), SUM(count), MAX(CASE WHEN rn = 1 THEN last END), MAX(last_t)
                    FROM (
                        SELECT series_id, (bucket / \(hour)) * \(hour) AS hb, min, max, sum, count, last, last_t,
                            ROW_NUMBER() OVER (PARTITION BY series_id, bucket / \(hour) ORDER BY last_t DESC) AS rn
                        FROM samples_1m
                        WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                          AND bucket >= \(hoursFrom) AND bucket < \(hoursTarget)
                    ) r GROUP BY series_id, hb
                    \(unescaped: Self.mergeRollup("samples_1h"))
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO meta (node, key, value) VALUES (\(node), 'rollup_watermark_1h', \(hoursTarget))
                    ON CONFLICT (node, key) DO UPDATE SET value = excluded.value
                    """,
                    logger: logger
                )
            }
            // Raw samples may only go once they are rolled up.
            let rawCutoff = min(StoreValues.micros(rawBefore), max(target, watermark))
            let rawDeleted =
                try await scalar(
                    """
                    WITH gone AS (
                        DELETE FROM samples WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                            AND t < \(rawCutoff) RETURNING 1
                    ) SELECT COUNT(*)::bigint FROM gone
                    """
                ) ?? 0
            try await connection.query(
                """
                INSERT INTO meta (node, key, value) VALUES (\(node), 'raw_cutoff', \(rawCutoff))
                ON CONFLICT (node, key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)
                """,
                logger: logger
            )
            var rollupsDeleted =
                try await scalar(
                    """
                    WITH gone AS (
                        DELETE FROM samples_1m WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                            AND bucket < \(StoreValues.micros(rollupsBefore)) RETURNING 1
                    ) SELECT COUNT(*)::bigint FROM gone
                    """
                ) ?? 0
            rollupsDeleted +=
                try await scalar(
                    """
                    WITH gone AS (
                        DELETE FROM samples_1h WHERE series_id IN (SELECT id FROM series WHERE node = \(node))
                            AND bucket < \(StoreValues.micros(hoursBefore)) RETURNING 1
                    ) SELECT COUNT(*)::bigint FROM gone
                    """
                ) ?? 0
            // Series left with neither samples nor rollups go, and so does their memory.
            var gone: [SeriesKey] = []
            if rawDeleted > 0 || rollupsDeleted > 0 {
                for try await (name, labels) in try await connection.query(
                    """
                    DELETE FROM series
                    WHERE node = \(node)
                      AND NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id)
                      AND NOT EXISTS (SELECT 1 FROM samples_1m WHERE series_id = series.id)
                      AND NOT EXISTS (SELECT 1 FROM samples_1h WHERE series_id = series.id)
                    RETURNING name, labels
                    """,
                    logger: logger
                ).decode((String, String).self) {
                    gone.append(SeriesKey(name: name, labels: StoreValues.labels(fromText: labels)))
                }
            }
            let report = RollupReport(
                rolledUpTo: StoreValues.date(max(target, watermark)),
                rawDeleted: Int(rawDeleted),
                rollupsDeleted: Int(rollupsDeleted),
                seriesDeleted: gone.count
            )
            return (report, gone)
        }
        if node == self.node { seriesCache.remove(gone) }
        return report
    }

    /// Inserts raw points of `node`'s series, and adds those of minutes and hours already rolled
    /// up (points that came late, such as from a node that was away) to their rollups: queries
    /// read rolled-up minutes and hours from the rollups. Run it under the rollup's lock.
    static func insertPoints(
        series: [Int64],
        times: [Int64],
        values: [Double],
        node: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO samples (series_id, t, v)
            SELECT * FROM unnest(\(series)::bigint[], \(times)::bigint[], \(values)::float8[])
            """,
            logger: logger
        )
        for hourly in [false, true] {
            try await connection.query(
                lateRollupQuery(seriesIDs: series, times: times, values: values, node: node, hourly: hourly),
                logger: logger
            )
        }
    }

    /// How a rollup row of `table` (a minute's or an hour's) takes in more of its bucket: min,
    /// max, sum, count, and the last value by time.
    static func mergeRollup(_ table: String) -> String {
        """
        ON CONFLICT (series_id, bucket) DO UPDATE SET
            min = LEAST(\(table).min, excluded.min), max = GREATEST(\(table).max, excluded.max),
            sum = \(table).sum + excluded.sum, count = \(table).count + excluded.count,
            last = CASE WHEN excluded.last_t >= \(table).last_t THEN excluded.last ELSE \(table).last END,
            last_t = GREATEST(\(table).last_t, excluded.last_t)
        """
    }

    /// Adds the points of minutes `node` has rolled up already (they came late) to their rollups:
    /// queries read rolled-up minutes from the rollups. Run it under the rollup's lock (the
    /// watermark must not move before commit). `hourly`: the same for the 1-hour rollups.
    static func lateRollupQuery(
        seriesIDs: [Int64],
        times: [Int64],
        values: [Double],
        node: String,
        hourly: Bool = false
    ) -> PostgresQuery {
        let unit = hourly ? SeriesPlan.hour : SeriesPlan.minute
        let table = hourly ? "samples_1h" : "samples_1m"
        let key = hourly ? "rollup_watermark_1h" : "rollup_watermark"
        return PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(table) (series_id, bucket, min, max, sum, count, last, last_t)
                SELECT s, bucket, MIN(v), MAX(v), SUM(v), COUNT(*), MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                FROM (
                    SELECT s, (t / \(unit)) * \(unit) AS bucket, t, v,
                        ROW_NUMBER() OVER (PARTITION BY s, t / \(unit) ORDER BY t DESC) AS rn
                    FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) AS p(s, t, v)
                    WHERE t < (SELECT value FROM meta WHERE node = $4 AND key = '\(key)')
                ) r GROUP BY s, bucket
                \(Self.mergeRollup(table))
                """,
            binds: {
                var b = PostgresBindings()
                b.append(seriesIDs)
                b.append(times)
                b.append(values)
                b.append(node)
                return b
            }()
        )
    }

    /// The nodes that have telemetry stored.
    public func nodesWithTelemetry() async throws -> [String] {
        var nodes: [String] = []
        for try await node in try await client.query("SELECT DISTINCT node FROM series ORDER BY node", logger: logger)
            .decode(String.self)
        {
            nodes.append(node)
        }
        return nodes
    }

    /// A value this node keeps in `meta`.
    func meta(_ key: String, node: String? = nil) async throws -> Int64? {
        try await one("SELECT value FROM meta WHERE node = \(node ?? self.node) AND key = \(key)", Int64.self)
    }
}
