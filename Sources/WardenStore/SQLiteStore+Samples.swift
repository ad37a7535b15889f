import CWardenSys
import Foundation
internal import GRDB
internal import GRDBSQLite
import Synchronization
import WardenCore

/// Series ids by key, filled from the database at open and by the writer after each commit, and
/// the admission of new series under a limit.
///
/// A new series admitted by ``admit(_:limit:)`` is reserved (it counts against the limit) until
/// the writer commits it or its write fails. Memory is returned when series are pruned.
package final class SeriesCache: Sendable {
    private struct State {
        var ids: [SeriesKey: Int64] = [:]
        var reserved: Set<SeriesKey> = []
        /// The most entries `ids` held since it was last rebuilt (its capacity, roughly).
        var peak = 0
    }

    private let state = Mutex(State())

    package init() {}

    package func id(_ key: SeriesKey) -> Int64? { state.withLock { $0.ids[key] } }

    /// Series stored or reserved.
    package var count: Int { state.withLock { $0.ids.count + $0.reserved.count } }

    /// Records committed series.
    package func commit(_ new: [(SeriesKey, Int64)]) {
        guard !new.isEmpty else { return }
        state.withLock { s in
            for (key, id) in new {
                s.ids[key] = id
                s.reserved.remove(key)
            }
            s.peak = max(s.peak, s.ids.count)
        }
    }

    /// Drops the reservations of series whose write failed.
    package func unreserve(_ keys: some Sequence<SeriesKey>) {
        state.withLock { s in for key in keys where s.ids[key] == nil { s.reserved.remove(key) } }
    }

    /// One flag per key: known series always pass; a new one passes (and is reserved) while fewer
    /// than `limit` series are stored or reserved.
    package func admit(_ keys: [SeriesKey], limit: Int) -> [Bool] {
        state.withLock { s in
            keys.map { key in
                if s.ids[key] != nil || s.reserved.contains(key) { return true }
                guard s.ids.count + s.reserved.count < limit else { return false }
                s.reserved.insert(key)
                return true
            }
        }
    }

    /// Forgets pruned series; when the table has shrunk to a quarter of its peak it is rebuilt, so
    /// that its memory goes back to the allocator.
    package func remove(_ keys: [SeriesKey]) {
        guard !keys.isEmpty else { return }
        let shrunk = state.withLock { s -> Bool in
            for key in keys { s.ids.removeValue(forKey: key) }
            guard s.ids.count * 4 < s.peak else { return false }
            s.ids = Dictionary(uniqueKeysWithValues: s.ids.map { ($0.key, $0.value) })
            s.peak = s.ids.count
            return true
        }
        if shrunk { warden_release_free_memory() }
    }
}

extension SQLiteStore {
    public func appendSamples(_ batch: SampleBatch) async throws {
        if batch.isEmpty { return }
        try await sampleWriter.submit([batch])
    }

    public func admitSeries(_ keys: [SeriesKey], limit: Int) async -> [Bool] {
        seriesCache.admit(keys, limit: limit)
    }

    public func seriesCount() async -> Int { seriesCache.count }

    /// Writes batches in one transaction (called by the group-commit writer only) and returns the
    /// series it created, for the cache once the transaction has committed.
    static func insert(_ batches: [SampleBatch], cache: SeriesCache, _ db: Database) throws -> [(SeriesKey, Int64)] {
        let insertSeries = try db.cachedStatement(
            sql: "INSERT INTO series (name, labels) VALUES (?, ?) ON CONFLICT (name, labels) DO NOTHING"
        )
        let findSeries = try db.cachedStatement(sql: "SELECT id FROM series WHERE name = ? AND labels = ?")
        let insertPoint = try db.cachedStatement(sql: "INSERT INTO samples (series_id, t, v) VALUES (?, ?, ?)")
        let raw = insertPoint.sqliteStatement
        // Minutes before the watermark are rolled up already: a late point goes into its rollup
        // too (queries read rolled-up minutes from the rollups).
        let watermark =
            try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark'").flatMap { $0 }
            ?? Int64.min
        var late: [(series: Int64, time: Int64, value: Double)] = []
        var created: [SeriesKey: Int64] = [:]
        for batch in batches {
            var ids = [Int64](repeating: 0, count: batch.series.count)
            for (i, key) in batch.series.enumerated() {
                if let id = cache.id(key) ?? created[key] {
                    ids[i] = id
                    continue
                }
                let labels = labelsText(key)
                try insertSeries.execute(arguments: [key.name, labels])
                // A row that already exists (pruned from the cache by a rollback) is found again.
                let id =
                    db.changesCount > 0
                    ? db.lastInsertedRowID : try Int64.fetchOne(findSeries, arguments: [key.name, labels]) ?? 0
                created[key] = id
                ids[i] = id
            }
            // The hot loop binds directly: no argument arrays per row.
            for p in batch.points {
                sqlite3_bind_int64(raw, 1, ids[Int(p.series)])
                sqlite3_bind_int64(raw, 2, p.time)
                sqlite3_bind_double(raw, 3, p.value)
                let rc = sqlite3_step(raw)
                sqlite3_reset(raw)
                guard rc == SQLITE_DONE else {
                    throw DatabaseError(
                        resultCode: ResultCode(rawValue: rc),
                        message: String(cString: sqlite3_errmsg(db.sqliteConnection))
                    )
                }
                if p.time < watermark { late.append((ids[Int(p.series)], p.time, p.value)) }
            }
        }
        if !late.isEmpty {
            let rollIn = try db.cachedStatement(sql: rollInSQL(table: "samples_1m"))
            for p in late {
                try rollIn.execute(arguments: [p.series, SeriesPlan.floor(p.time, SeriesPlan.minute), p.value, p.time])
            }
            // A point of an hour already rolled up goes into that hour too.
            let hours =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark_1h'").flatMap { $0 }
                ?? Int64.min
            let hourIn = try db.cachedStatement(sql: rollInSQL(table: "samples_1h"))
            for p in late where p.time < hours {
                try hourIn.execute(arguments: [p.series, SeriesPlan.floor(p.time, SeriesPlan.hour), p.value, p.time])
            }
        }
        return created.map { ($0.key, $0.value) }
    }

    /// How a rollup row (a minute's or an hour's) takes in more of its bucket: min, max, sum,
    /// count, and the last value by time.
    static let mergeRollup = """
        ON CONFLICT (series_id, bucket) DO UPDATE SET
            min = MIN(min, excluded.min), max = MAX(max, excluded.max), sum = sum + excluded.sum,
            count = count + excluded.count,
            last = CASE WHEN excluded.last_t >= last_t THEN excluded.last ELSE last END,
            last_t = MAX(last_t, excluded.last_t)
        """

    /// Adds one late point (?1 series, ?2 bucket, ?3 value, ?4 time) to a rollup table.
    static func rollInSQL(table: String) -> String {
        """
        INSERT INTO \(table) (series_id, bucket, min, max, sum, count, last, last_t)
        VALUES (?1, ?2, ?3, ?3, ?3, 1, ?3, ?4)
        \(Self.mergeRollup)
        """
    }

    /// Labels as stored: canonical JSON with sorted keys.
    static func labelsText(_ key: SeriesKey) -> String { StoreValues.labelsText(key) }

    static func labels(fromText text: String) -> [SeriesKey.Label] { StoreValues.labels(fromText: text) }

    static func loadSeries(into cache: SeriesCache, _ db: Database) throws {
        for row in try Row.fetchAll(db, sql: "SELECT id, name, labels FROM series") {
            let text: String = row[2]
            cache.commit([(SeriesKey(name: row[1], labels: labels(fromText: text)), row[0])])
        }
    }

    public func series(prefix: String?, limit: Int) async throws -> [SeriesInfo] {
        try await pool.read { db in
            var sql = "SELECT id, name, labels FROM series"
            var args: [any DatabaseValueConvertible] = []
            if let prefix, !prefix.isEmpty {
                sql += " WHERE name >= ? AND name < ?"
                args += [prefix, prefix + "\u{10FFFF}"]
            }
            sql += " ORDER BY name, labels LIMIT ?"
            args.append(max(0, limit))
            let latest = try db.cachedStatement(
                sql: "SELECT t, v FROM samples WHERE series_id = ? ORDER BY t DESC LIMIT 1"
            )
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                let id: Int64 = row[0]
                let key = SeriesKey(name: row[1], labels: Self.labels(fromText: row[2]))
                if let last = try Row.fetchOne(latest, arguments: [id]) {
                    return SeriesInfo(key: key, lastTime: Self.date(last[0]), lastValue: last[1])
                }
                return SeriesInfo(key: key)
            }
        }
    }

    public func query(_ q: SeriesQuery) async throws -> [SeriesResult] {
        let from = Self.micros(q.from)
        let to = Self.micros(q.to)
        let step = max(1, q.step.nanoseconds / 1000)
        return try await pool.read { db in
            func meta(_ key: String) throws -> Int64? {
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]).flatMap { $0 }
            }
            let plan = SeriesPlan(
                from: from,
                to: to,
                step: step,
                watermark: try meta("rollup_watermark"),
                rawCutoff: try meta("raw_cutoff"),
                hourWatermark: try meta("rollup_watermark_1h")
            )
            var results: [SeriesResult] = []
            // The label filter runs in SQL, and no more series than allowed are read.
            var sql = "SELECT id, labels FROM series WHERE name = ?"
            var arguments: [any DatabaseValueConvertible] = [q.name]
            for (name, value) in q.labels.sorted(by: { $0.key < $1.key }) {
                sql += " AND json_extract(labels, ?) = ?"
                arguments += ["$.\"\(name)\"", value]
            }
            sql += " ORDER BY labels LIMIT ?"
            arguments.append(q.maxSeries + 1)
            let matching = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments))
            if matching.count > q.maxSeries { throw SeriesQueryLimit(limit: q.maxSeries) }
            let rolledUp = try db.cachedStatement(
                sql: """
                    SELECT bucket, min, max, sum, count, last, last_t FROM samples_1m
                    WHERE series_id = ? AND bucket >= ? AND bucket < ?
                    """
            )
            let hourly = try db.cachedStatement(
                sql: """
                    SELECT bucket, min, max, sum, count, last, last_t FROM samples_1h
                    WHERE series_id = ? AND bucket >= ? AND bucket < ?
                    """
            )
            let raw = try db.cachedStatement(
                sql: "SELECT t, v FROM samples WHERE series_id = ? AND t >= ? AND t < ? ORDER BY t"
            )
            for row in matching {
                let id: Int64 = row[0]
                var parts: [Int64: Partial] = [:]
                if let range = plan.hours {
                    let rows = try Row.fetchCursor(hourly, arguments: [id, range.lowerBound, range.upperBound])
                    while let r = try rows.next() {
                        let part = Partial(min: r[1], max: r[2], sum: r[3], count: r[4], last: r[5], lastT: r[6])
                        Partial.merge(part, at: plan.index(r[0]), into: &parts)
                    }
                }
                if let range = plan.rollups {
                    let rows = try Row.fetchCursor(rolledUp, arguments: [id, range.lowerBound, range.upperBound])
                    while let r = try rows.next() {
                        let part = Partial(min: r[1], max: r[2], sum: r[3], count: r[4], last: r[5], lastT: r[6])
                        Partial.merge(part, at: plan.index(r[0]), into: &parts)
                    }
                }
                if let range = plan.raw {
                    // In time order (the series_id, t index). GRDB steps (so that a cancelled
                    // query stops); the two columns are read straight from the statement.
                    let rows = try Row.fetchCursor(raw, arguments: [id, range.lowerBound, range.upperBound])
                    let c = raw.sqliteStatement
                    while try rows.next() != nil {
                        let t = sqlite3_column_int64(c, 0)
                        let v = sqlite3_column_double(c, 1)
                        Partial.merge(
                            Partial(min: v, max: v, sum: v, count: 1, last: v, lastT: t),
                            at: plan.index(t),
                            into: &parts
                        )
                    }
                }
                results.append(
                    SeriesResult(
                        key: SeriesKey(name: q.name, labels: Self.labels(fromText: row[1])),
                        buckets: Partial.buckets(parts, from: plan.origin, step: plan.step)
                    )
                )
            }
            return results
        }
    }

    /// Rolls up, then applies retention. Rollups are idempotent per minute: a minute is rolled up
    /// once all of it is older than `upTo`.
    ///
    /// The rollup goes ten minutes of samples per transaction (skipping stretches with none), so
    /// the write lock is never held for long while ingest waits, and a cancelled pass (shutdown)
    /// keeps what it committed; the rest is rolled up by the next pass.
    public func rollUp(
        upTo: Date,
        rawBefore: Date,
        rollupsBefore: Date,
        hoursBefore: Date
    ) async throws
        -> RollupReport
    {
        let minute: Int64 = 60_000_000
        let target = (Self.micros(upTo) / minute) * minute
        let cache = seriesCache
        while true {
            try Task.checkCancellation()
            let done = try await pool.write { db -> Bool in
                let stored = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark'")
                    .flatMap { $0 }
                var from = stored ?? Int64.min
                // Skip to the minute of the first sample not rolled up yet (none: nothing to do).
                guard
                    let first = try Int64.fetchOne(
                        db,
                        sql: "SELECT MIN(t) FROM samples WHERE t >= ? AND series_id >= 0",
                        arguments: [from]
                    ).flatMap({ $0 })
                else { return true }
                from = max(from, (first / minute) * minute)
                guard target > from else { return true }
                let end = min(target, from + 10 * minute)
                try db.execute(
                    sql: """
                        INSERT INTO samples_1m (series_id, bucket, min, max, sum, count, last, last_t)
                        SELECT series_id, bucket, MIN(v), MAX(v), SUM(v), COUNT(*), MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                        FROM (
                            SELECT series_id, (t / ?1) * ?1 AS bucket, t, v,
                                ROW_NUMBER() OVER (PARTITION BY series_id, t / ?1 ORDER BY t DESC) AS rn
                            FROM samples WHERE t >= ?2 AND t < ?3 AND series_id >= 0
                        ) WHERE true GROUP BY series_id, bucket
                        \(Self.mergeRollup)
                        """,
                    arguments: [minute, from, end]
                )
                try db.execute(
                    sql:
                        "INSERT INTO meta (key, value) VALUES ('rollup_watermark', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [end]
                )
                return end >= target
            }
            if done { break }
        }
        // Whole hours of minutes into the 1-hour rollups, a day per transaction.
        while true {
            try Task.checkCancellation()
            let done = try await pool.write { db -> Bool in
                let hour = SeriesPlan.hour
                guard
                    let minutes = try Int64.fetchOne(
                        db,
                        sql: "SELECT value FROM meta WHERE key = 'rollup_watermark'"
                    ).flatMap({ $0 })
                else { return true }
                let target = SeriesPlan.floor(minutes, hour)
                var from =
                    try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark_1h'")
                    .flatMap { $0 } ?? Int64.min
                guard
                    let first = try Int64.fetchOne(
                        db,
                        sql: "SELECT MIN(bucket) FROM samples_1m WHERE bucket >= ?",
                        arguments: [from]
                    ).flatMap({ $0 })
                else { return true }
                from = max(from, SeriesPlan.floor(first, hour))
                guard target > from else { return true }
                let end = min(target, from + 24 * hour)
                try db.execute(
                    sql: """
                        INSERT INTO samples_1h (series_id, bucket, min, max, sum, count, last, last_t)
                        SELECT series_id, hb, MIN(min), MAX(max), SUM(sum), SUM(count), MAX(CASE WHEN rn = 1 THEN last END), MAX(last_t)
                        FROM (
                            SELECT series_id, (bucket / ?1) * ?1 AS hb, min, max, sum, count, last, last_t,
                                ROW_NUMBER() OVER (PARTITION BY series_id, bucket / ?1 ORDER BY last_t DESC) AS rn
                            FROM samples_1m WHERE bucket >= ?2 AND bucket < ?3
                        ) WHERE true GROUP BY series_id, hb
                        \(Self.mergeRollup)
                        """,
                    arguments: [hour, from, end]
                )
                try db.execute(
                    sql:
                        "INSERT INTO meta (key, value) VALUES ('rollup_watermark_1h', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [end]
                )
                return end >= target
            }
            if done { break }
        }
        return try await pool.write { db in
            let watermark =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark'").flatMap { $0 }
                ?? target
            // Raw samples may only go once they are rolled up.
            let rawCutoff = min(Self.micros(rawBefore), watermark)
            let lastRow = try Int64.fetchOne(db, sql: "SELECT MAX(rowid) FROM samples") ?? 0
            try db.execute(sql: "DELETE FROM samples WHERE t < ? AND series_id >= 0", arguments: [rawCutoff])
            let rawDeleted = db.changesCount
            // Rows must keep growing (a fleet node ships its samples by row), and an emptied table
            // would start them again at 1: a placeholder of no series holds the last row.
            try db.execute(sql: "DELETE FROM samples WHERE series_id < 0")
            if lastRow > 0, try Int64.fetchOne(db, sql: "SELECT 1 FROM samples LIMIT 1") == nil {
                try db.execute(
                    sql: "INSERT INTO samples (rowid, series_id, t, v) VALUES (?, -1, 0, 0)",
                    arguments: [lastRow]
                )
            }
            let previous =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'raw_cutoff'").flatMap { $0 }
                ?? Int64.min
            try db.execute(
                sql:
                    "INSERT INTO meta (key, value) VALUES ('raw_cutoff', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                arguments: [max(previous, rawCutoff)]
            )
            try db.execute(sql: "DELETE FROM samples_1m WHERE bucket < ?", arguments: [Self.micros(rollupsBefore)])
            var rollupsDeleted = db.changesCount
            try db.execute(
                sql: "DELETE FROM samples_1h WHERE bucket < ?",
                arguments: [min(Self.micros(hoursBefore), Self.micros(rollupsBefore))]
            )
            rollupsDeleted += db.changesCount
            // Series left with neither samples nor rollups go, and so does their memory.
            var seriesDeleted = 0
            if rawDeleted > 0 || rollupsDeleted > 0 {
                let gone = try Row.fetchAll(
                    db,
                    sql: """
                        DELETE FROM series
                        WHERE NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id)
                          AND NOT EXISTS (SELECT 1 FROM samples_1m WHERE series_id = series.id)
                          AND NOT EXISTS (SELECT 1 FROM samples_1h WHERE series_id = series.id)
                        RETURNING name, labels
                        """
                ).map { row in SeriesKey(name: row[0], labels: Self.labels(fromText: row[1])) }
                cache.remove(gone)
                seriesDeleted = gone.count
            }
            return RollupReport(
                rolledUpTo: Self.date(max(target, watermark)),
                rawDeleted: rawDeleted,
                rollupsDeleted: rollupsDeleted,
                seriesDeleted: seriesDeleted
            )
        }
    }
}

extension SQLiteStore {
    /// Up to `limit` raw samples stored after row `afterRow`, in the order they were stored,
    /// each with its row as its sequence number: the telemetry a fleet node has yet to ship.
    ///
    /// Rows only grow: retention leaves a placeholder when it empties the table (which would
    /// start them again at 1), and the store never vacuums (which could renumber them). Rows missing between
    /// two shipped ones were dropped by retention (`samples.raw`) before they could be shipped.
    public func samples(afterRow: Int64, limit: Int) async throws -> SequencedSamples {
        try await pool.read { db in
            var result = SequencedSamples()
            var index: [Int64: Int] = [:]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT s.rowid, s.series_id, s.t, s.v, k.name, k.labels FROM samples s
                    JOIN series k ON k.id = s.series_id
                    WHERE s.rowid > ? ORDER BY s.rowid LIMIT ?
                    """,
                arguments: [afterRow, max(0, limit)]
            )
            for row in rows {
                let seriesID: Int64 = row[1]
                let i: Int
                if let known = index[seriesID] {
                    i = known
                } else {
                    i = result.series.count
                    index[seriesID] = i
                    result.series.append(SeriesKey(name: row[4], labels: Self.labels(fromText: row[5])))
                }
                result.points.append(.init(series: i, id: row[0], time: row[2], value: row[3]))
            }
            return result
        }
    }

    /// The highest sample row (0 when there is none).
    public func lastSampleRow() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(rowid) FROM samples") ?? 0 }
    }
}
