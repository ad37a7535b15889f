import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The record of one running service instance, kept on disk so that a new Warden can adopt it.
public struct RuntimeRecord: Codable, Sendable, Hashable {
    public var service: String
    public var pid: Int32
    public var pgid: Int32
    /// From /proc/PID/stat: with the pid, identifies the process even after pid reuse.
    public var startTime: UInt64
    /// A random id also placed in the service's environment (`WARDEN_INSTANCE`).
    public var instance: String
    /// A digest of the service's spec when it was started, to notice changes across restarts.
    public var specDigest: String
    public var startedAt: Date
    public var ready: Bool
    /// The last `STATUS=` text the service sent.
    public var status: String?

    public init(
        service: String,
        pid: Int32,
        pgid: Int32,
        startTime: UInt64,
        instance: String,
        specDigest: String,
        startedAt: Date,
        ready: Bool,
        status: String? = nil
    ) {
        self.service = service
        self.pid = pid
        self.pgid = pgid
        self.startTime = startTime
        self.instance = instance
        self.specDigest = specDigest
        self.startedAt = startedAt
        self.ready = ready
        self.status = status
    }
}

extension RuntimeRecord {
    /// The record as JSON (written without Foundation's encoder: it runs at every spawn).
    var json: JSONValue {
        [
            "service": .string(service), "pid": .int(Int64(pid)), "pgid": .int(Int64(pgid)),
            "start_time": .int(Int64(startTime)),
            "instance": .string(instance), "spec_digest": .string(specDigest),
            "started_at": .string(ISOTime.format(startedAt)),
            "ready": .bool(ready), "status": .string(status),
        ]
    }

    init?(json: JSONValue) {
        guard let service = json["service"]?.stringValue, let pid = json["pid"]?.intValue,
            let pgid = json["pgid"]?.intValue,
            let start = json["start_time"]?.intValue, let instance = json["instance"]?.stringValue,
            let digest = json["spec_digest"]?.stringValue,
            let started = json["started_at"]?.stringValue.flatMap(ISOTime.parse)
        else { return nil }
        self.init(
            service: service,
            pid: Int32(pid),
            pgid: Int32(pgid),
            startTime: UInt64(start),
            instance: instance,
            specDigest: digest,
            startedAt: started,
            ready: json["ready"]?.boolValue ?? false,
            status: json["status"]?.stringValue
        )
    }
}

/// `<state_dir>/run/<service>.json`: one record per running service, replaced atomically.
///
/// Written synchronously right after each spawn (a few microseconds, no fsync: the page cache
/// survives Warden being killed), removed when the service stops.
public struct RuntimeRecords: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    private func path(_ service: String) -> String { (directory as NSString).appendingPathComponent("\(service).json") }

    /// Writes (replaces) the record of `record.service`.
    public func save(_ record: RuntimeRecord) {
        let data = Array(record.json.jsonText.utf8)
        let tmp = path(record.service) + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        _ = rename(tmp, path(record.service))
    }

    /// Removes the record of `service`.
    public func remove(_ service: String) { unlink(path(service)) }

    /// Every record on disk (unreadable ones are skipped).
    public func loadAll() -> [RuntimeRecord] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name))
            else { return nil }
            return JSONValue.parse(String(decoding: data, as: UTF8.self)).flatMap(RuntimeRecord.init(json:))
        }
    }
}
