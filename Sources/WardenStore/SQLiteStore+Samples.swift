import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import WardenCore

/// Series ids by key; filled from the database at open and by the writer as series appear.
final class SeriesCache: Sendable {
    private let ids = Mutex<[SeriesKey: Int64]>([:])

    func id(_ key: SeriesKey) -> Int64? { ids.withLock { $0[key] } }
    func set(_ key: SeriesKey, _ id: Int64) { ids.withLock { $0[key] = id } }
}

extension SQLiteStore {
    public func appendSamples(_ batch: SampleBatch) async throws {
        if batch.isEmpty { return }
        try await sampleWriter.submit([batch])
    }

    /// Writes batches in one transaction (called by the group-commit writer only).
    static func insert(_ batches: [SampleBatch], cache: SeriesCache, _ db: Database) throws {
        let insertSeries = try db.cachedStatement(sql: "INSERT INTO series (name, labels) VALUES (?, ?)")
        let insertPoint = try db.cachedStatement(sql: "INSERT INTO samples (series_id, t, v) VALUES (?, ?, ?)")
        let raw = insertPoint.sqliteStatement
        for batch in batches {
            var ids = [Int64](repeating: 0, count: batch.series.count)
            for (i, key) in batch.series.enumerated() {
                if let id = cache.id(key) {
                    ids[i] = id
                } else {
                    try insertSeries.execute(arguments: [key.name, labelsText(key)])
                    let id = db.lastInsertedRowID
                    cache.set(key, id)
                    ids[i] = id
                }
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
            }
        }
    }

    /// Labels as stored: canonical JSON with sorted keys.
    static func labelsText(_ key: SeriesKey) -> String {
        JSONValue.object(
            Dictionary(key.labels.map { ($0.name, JSONValue.string($0.value)) }, uniquingKeysWith: { a, _ in a })
        ).jsonText
    }

    static func labels(fromText text: String) -> [SeriesKey.Label] {
        guard case .object(let o)? = JSONValue.parse(text) else { return [] }
        return o.compactMap { k, v in v.stringValue.map { SeriesKey.Label(k, $0) } }
    }

    static func loadSeries(into cache: SeriesCache, _ db: Database) throws {
        for row in try Row.fetchAll(db, sql: "SELECT id, name, labels FROM series") {
            let text: String = row[2]
            cache.set(SeriesKey(name: row[1], labels: labels(fromText: text)), row[0])
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
            let rawCutoff =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'raw_cutoff'").flatMap { $0 }
                ?? Int64.min
            var results: [SeriesResult] = []
            for row in try Row.fetchAll(
                db,
                sql: "SELECT id, labels FROM series WHERE name = ? ORDER BY labels",
                arguments: [q.name]
            ) {
                let labels = Self.labels(fromText: row[1])
                let dict = Dictionary(labels.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
                guard q.labels.allSatisfy({ dict[$0.key] == $0.value }) else { continue }
                let id: Int64 = row[0]
                var buckets: [Int64: Partial] = [:]
                // Older than the raw cutoff: from the 1-minute rollups.
                if from < rawCutoff {
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT b, MIN(min), MAX(max), SUM(sum), SUM(count), MAX(CASE WHEN rn = 1 THEN last END), MAX(last_t)
                            FROM (
                                SELECT (bucket - ?1) / ?2 AS b, min, max, sum, count, last, last_t,
                                    ROW_NUMBER() OVER (PARTITION BY (bucket - ?1) / ?2 ORDER BY last_t DESC) AS rn
                                FROM samples_1m WHERE series_id = ?3 AND bucket >= ?1 AND bucket < ?4
                            ) GROUP BY b
                            """,
                        arguments: [from, step, id, min(to, rawCutoff)]
                    )
                    for r in rows { merge(&buckets, r) }
                }
                if to > rawCutoff {
                    let rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT b, MIN(v), MAX(v), SUM(v), COUNT(*), MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                            FROM (
                                SELECT (t - ?1) / ?2 AS b, t, v,
                                    ROW_NUMBER() OVER (PARTITION BY (t - ?1) / ?2 ORDER BY t DESC) AS rn
                                FROM samples WHERE series_id = ?3 AND t >= ?4 AND t < ?5
                            ) GROUP BY b
                            """,
                        arguments: [from, step, id, max(from, rawCutoff), to]
                    )
                    for r in rows { merge(&buckets, r) }
                }
                let ordered = buckets.keys.sorted().map { b -> SeriesBucket in
                    let p = buckets[b]!
                    return SeriesBucket(
                        start: Self.date(from + b * step),
                        min: p.min,
                        max: p.max,
                        avg: p.sum / Double(max(1, p.count)),
                        last: p.last,
                        count: p.count
                    )
                }
                results.append(SeriesResult(key: SeriesKey(name: q.name, labels: labels), buckets: ordered))
            }
            return results
        }
    }

    /// Rolls up, then applies retention. Rollups are idempotent per minute: a minute is rolled up
    /// once all of it is older than `upTo`.
    public func rollUp(upTo: Date, rawBefore: Date, rollupsBefore: Date) async throws -> RollupReport {
        let minute: Int64 = 60_000_000
        let target = (Self.micros(upTo) / minute) * minute
        return try await pool.write { db in
            let watermark =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'rollup_watermark'").flatMap { $0 }
                ?? (try Int64.fetchOne(db, sql: "SELECT MIN(t) FROM samples").flatMap { $0 }.map {
                    ($0 / minute) * minute
                } ?? target)
            if target > watermark {
                try db.execute(
                    sql: """
                        INSERT INTO samples_1m (series_id, bucket, min, max, sum, count, last, last_t)
                        SELECT series_id, bucket, MIN(v), MAX(v), SUM(v), COUNT(*), MAX(CASE WHEN rn = 1 THEN v END), MAX(t)
                        FROM (
                            SELECT series_id, (t / ?1) * ?1 AS bucket, t, v,
                                ROW_NUMBER() OVER (PARTITION BY series_id, t / ?1 ORDER BY t DESC) AS rn
                            FROM samples WHERE t >= ?2 AND t < ?3
                        ) WHERE true GROUP BY series_id, bucket
                        ON CONFLICT (series_id, bucket) DO UPDATE SET
                            min = MIN(min, excluded.min), max = MAX(max, excluded.max), sum = sum + excluded.sum,
                            count = count + excluded.count,
                            last = CASE WHEN excluded.last_t >= last_t THEN excluded.last ELSE last END,
                            last_t = MAX(last_t, excluded.last_t)
                        """,
                    arguments: [minute, watermark, target]
                )
                try db.execute(
                    sql:
                        "INSERT INTO meta (key, value) VALUES ('rollup_watermark', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    arguments: [target]
                )
            }
            // Raw samples may only go once they are rolled up.
            let rawCutoff = min(Self.micros(rawBefore), max(target, watermark))
            try db.execute(sql: "DELETE FROM samples WHERE t < ?", arguments: [rawCutoff])
            let rawDeleted = db.changesCount
            let previous =
                try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'raw_cutoff'").flatMap { $0 }
                ?? Int64.min
            try db.execute(
                sql:
                    "INSERT INTO meta (key, value) VALUES ('raw_cutoff', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                arguments: [max(previous, rawCutoff)]
            )
            try db.execute(sql: "DELETE FROM samples_1m WHERE bucket < ?", arguments: [Self.micros(rollupsBefore)])
            return RollupReport(
                rolledUpTo: Self.date(max(target, watermark)),
                rawDeleted: rawDeleted,
                rollupsDeleted: db.changesCount
            )
        }
    }
}

/// A bucket being assembled from raw and rolled-up parts.
struct Partial {
    var min: Double
    var max: Double
    var sum: Double
    var count: Int
    var last: Double
    var lastT: Int64
}

private func merge(_ buckets: inout [Int64: Partial], _ r: Row) {
    let b: Int64 = r[0]
    let p = Partial(min: r[1], max: r[2], sum: r[3], count: r[4], last: r[5], lastT: r[6])
    if var existing = buckets[b] {
        existing.min = min(existing.min, p.min)
        existing.max = max(existing.max, p.max)
        existing.sum += p.sum
        existing.count += p.count
        if p.lastT >= existing.lastT {
            existing.last = p.last
            existing.lastT = p.lastT
        }
        buckets[b] = existing
    } else {
        buckets[b] = p
    }
}
