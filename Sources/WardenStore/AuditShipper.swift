import Foundation
import Logging
import ServiceLifecycle
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Copies the audit chain, as it is committed, to a JSON-lines file and to syslog (`audit:`), so
/// that a copy exists beyond the reach of whoever can write the database.
///
/// Each destination remembers the last record it took (in the store, and for the file its last
/// line too) and goes on from there after a restart; a destination that fails is tried again
/// every few seconds, from where it stopped, and said once in the log until it recovers. Started
/// before the event recorder, it stops after it, with one last copy of what was committed.
public struct AuditShipper: Service {
    let store: SQLiteStore
    let spec: AuditSpec
    let logger: Logger
    /// How long a failed destination waits before it is tried again.
    let retry: Duration

    public init(store: SQLiteStore, spec: AuditSpec, retry: Duration = .seconds(5), logger: Logger) {
        self.store = store
        self.spec = spec
        self.retry = retry
        self.logger = logger
    }

    /// One place the chain is copied to.
    final class Destination: @unchecked Sendable {
        let name: String
        let positionKey: String
        var position: Int64 = 0
        var failing = false
        let send: @Sendable ([AuditLink]) throws -> Void

        init(name: String, positionKey: String, send: @escaping @Sendable ([AuditLink]) throws -> Void) {
            self.name = name
            self.positionKey = positionKey
            self.send = send
        }
    }

    public func run() async throws {
        var destinations: [Destination] = []
        if let path = spec.file {
            let file = AuditFile(path: path)
            let d = Destination(name: "file \(path)", positionKey: "audit.shipped.file") { try file.append($0) }
            d.position = await blockingWork { file.lastSeq() } ?? 0
            destinations.append(d)
        }
        if let target = spec.syslog {
            let sender = SyslogSender(target: target)
            let host = SyslogSender.hostname
            let pid = getpid()
            destinations.append(
                Destination(name: "syslog \(target)", positionKey: "audit.shipped.syslog") { links in
                    try sender.send(links.map { SyslogSender.message(for: $0, hostname: host, pid: pid) })
                }
            )
        }
        if destinations.isEmpty { return }
        for d in destinations {
            if let data = try? await store.blob(d.positionKey), let text = String(data: data, encoding: .utf8),
                let saved = Int64(text)
            {
                d.position = max(d.position, saved)
            }
        }
        let commits = store.auditCommits()
        var wake = commits.cancelOnGracefulShutdown().makeAsyncIterator()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await ship(destinations)
            if destinations.contains(where: \.failing) {
                try? await cancelWhenGracefulShutdown { try await SystemClock().sleep(for: retry) }
            } else {
                guard (try? await wake.next()) != nil else { break }
            }
        }
        // The recorder stopped before: what it committed last goes too.
        await ship(destinations)
    }

    /// Copies what each destination has not taken yet, a few hundred records at a time.
    func ship(_ destinations: [Destination]) async {
        for d in destinations {
            while true {
                let links: [AuditLink]
                do {
                    links = try await store.auditLinks(after: d.position, limit: 500).map(\.link)
                } catch {
                    logger.error("cannot read the audit chain", metadata: ["warden.error": "\(error)"])
                    return
                }
                guard let last = links.last else { break }
                do {
                    try await blockingWork { try d.send(links) }
                } catch {
                    if !d.failing {
                        logger.error(
                            "cannot ship the audit trail; trying again",
                            metadata: ["warden.to": "\(d.name)", "warden.error": "\(error)"]
                        )
                    }
                    d.failing = true
                    break
                }
                if d.failing {
                    logger.notice("the audit trail is shipped again", metadata: ["warden.to": "\(d.name)"])
                    d.failing = false
                }
                d.position = last.seq
                // What was sent is noted even when the shipper is being cancelled (the store's
                // write would refuse to start in a cancelled task, and the records would go twice).
                let (store, key) = (self.store, d.positionKey)
                await Task { try? await store.setBlob(key, Data(String(last.seq).utf8)) }.value
            }
        }
    }
}

/// The JSON-lines copy: appended to with `O_APPEND` and flushed to disk after each batch; opened
/// again when it was moved away (log rotation).
final class AuditFile: @unchecked Sendable {
    let path: String
    private var fd: Int32 = -1
    private var inode: ino_t = 0

    init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    /// The `seq` of the file's last complete line, if it has one.
    func lastSeq() -> Int64? {
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return nil }
        defer { close(f) }
        var st = stat()
        guard fstat(f, &st) == 0, st.st_size > 0 else { return nil }
        let size = Int(st.st_size)
        let window = min(size, 64 << 10)
        var buffer = [UInt8](repeating: 0, count: window)
        let n = buffer.withUnsafeMutableBytes { pread(f, $0.baseAddress, window, off_t(size - window)) }
        guard n == window else { return nil }
        var lines = buffer.split(separator: 10, omittingEmptySubsequences: true)
        if buffer.last != 10, !lines.isEmpty { lines.removeLast() }
        guard let line = lines.last else { return nil }
        return JSONValue.parse(String(decoding: line, as: UTF8.self))?["seq"]?.intValue
    }

    func append(_ links: [AuditLink]) throws(WardenError) {
        try openIfNeeded()
        var bytes: [UInt8] = []
        for link in links {
            bytes += Array(link.json.jsonText.utf8)
            bytes.append(10)
        }
        let fd = self.fd
        if let failed = WriteAll.write(bytes, { write(fd, $0, $1) }) {
            close(fd)
            self.fd = -1
            throw WardenError(.io, "cannot write \(path): \(String(cString: strerror(failed)))")
        }
        guard fsync(fd) == 0 else {
            throw WardenError(.io, "cannot flush \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func openIfNeeded() throws(WardenError) {
        var st = stat()
        if fd >= 0, stat(path, &st) == 0, st.st_ino == inode { return }
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        let f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw WardenError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        var own = stat()
        fstat(f, &own)
        fd = f
        inode = own.st_ino
    }
}
