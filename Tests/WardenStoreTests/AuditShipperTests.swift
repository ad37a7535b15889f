import Foundation
import Logging
import Testing
import WardenCore
import WardenTestSupport

@testable import WardenStore

#if canImport(Glibc)
import Glibc
#endif

/// The audit chain copied as it is committed: to a JSON-lines file and to a syslog receiver on
/// loopback, over UDP and TCP, across restarts, a rotated file and a receiver that was down.
@Suite("Audit shipping", .timeLimit(.minutes(1)))
struct AuditShipperTests {
    func audit(_ id: Int64, refused: Bool = false) -> Event {
        Event(
            id: id,
            time: Date(timeIntervalSince1970: 1_900_000_000 + Double(id)),
            type: "audit.request",
            source: "api",
            subject: "POST /v1/bans",
            payload: .object(["actor": .string("ops"), "result": .string(refused ? "refused" : "ok")])
        )
    }

    func shipper(_ store: SQLiteStore, _ spec: AuditSpec) -> Task<Void, any Error> {
        let shipper = AuditShipper(store: store, spec: spec, retry: .milliseconds(100), logger: Logger(label: "test"))
        return Task { try await shipper.run() }
    }

    func lines(_ path: String) -> [JSONValue] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            JSONValue.parse(String($0))
        }
    }

    @Test func theAuditSectionIsReadAndItsMistakesLocated() throws {
        let loader = SpecLoader(sections: [AuditSection.self])
        let spec = try loader.parse(
            "audit: { file: trail.jsonl, syslog: 'tcp://[::1]:6514' }\nservices: {}\n",
            file: "w.yaml",
            baseDir: "/etc/warden"
        )
        #expect(spec.audit == AuditSpec(file: "/etc/warden/trail.jsonl", syslog: SyslogTarget("tcp://[::1]:6514")))
        #expect(spec.audit.syslog?.port == 6514 && spec.audit.syslog?.host == "::1")
        #expect(SyslogTarget("udp://logs.example")?.port == 514)
        let cases = [
            (
                "audit: { syslog: 'http://x:1' }\n",
                "w.yaml:1:18: audit.syslog: found 'http://x:1'; expected udp://host:port or tcp://host:port"
            ),
            ("audit: { syslog: 'udp://x:70000' }\n", "w.yaml:1:18: audit.syslog: found 'udp://x:70000'"),
            ("audit: { file: '' }\n", "w.yaml:1:16: audit.file: expected a file path of 1 to 4096 bytes"),
            ("audit: { fiel: x }\n", "w.yaml:1:10: audit.fiel: unknown key 'fiel'"),
        ]
        for (yaml, expected) in cases {
            do {
                _ = try loader.parse(yaml + "services: {}\n", file: "w.yaml", baseDir: "/tmp")
                Issue.record("accepted \(yaml)")
            } catch {
                #expect(error.issues.first?.description.hasPrefix(expected) == true, "\(error.issues)")
            }
        }
    }

    @Test func theChainGoesToAFileAndToSyslogOverUDP() async throws {
        let dir = TempDir("audit-ship")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let receiver = try Receiver(tcp: false)
        let path = dir.file("audit.jsonl")
        let spec = AuditSpec(file: path, syslog: SyslogTarget(transport: .udp, host: "127.0.0.1", port: receiver.port))
        var task = shipper(store, spec)
        try await store.append([
            audit(1), Event(id: 2, time: Date(), type: "service.started", source: "s", subject: "x"),
        ])
        try await store.append([audit(3, refused: true), audit(4)])
        var messages = try await receiver.messages(3)
        let links = try await store.auditLinks(after: 0, limit: 10).map(\.link)
        #expect(links.map(\.seq) == [1, 2, 3])
        // Each destination reads the chain on its own: a commit between the file's read and
        // syslog's reaches syslog first and the file at the next wake-up.
        try await eventually("the file holds the three") { lines(path).map { $0["seq"]?.intValue } == [1, 2, 3] }
        #expect(lines(path).map { $0["seq"]?.intValue } == [1, 2, 3])
        #expect(lines(path).map { $0["hash"]?.stringValue } == links.map { AuditLink.hex($0.hash) })
        #expect(lines(path).map { $0["event_id"]?.intValue } == [1, 3, 4])
        for (m, link) in zip(messages, links) {
            let text = String(decoding: m, as: UTF8.self)
            let pri = link.eventID == 3 ? "<84>1 " : "<85>1 "
            #expect(text.hasPrefix(pri), "authpriv, warning when refused: \(text)")
            #expect(text.contains(" warden \(getpid()) audit.request [warden@32473 seq=\"\(link.seq)\""))
            #expect(text.contains("hash=\"\(AuditLink.hex(link.hash))\""))
            let bom = try #require(m.firstRange(of: [0xEF, 0xBB, 0xBF]))
            let body = JSONValue.parse(String(decoding: m[bom.upperBound...], as: UTF8.self))
            #expect(body?["seq"]?.intValue == link.seq && body?["subject"]?.stringValue == "POST /v1/bans")
        }
        // Stopped and started again, it goes on from where it was: nothing twice.
        task.cancel()
        try await task.value
        task = shipper(store, spec)
        // A rotated file: the next records go to a new file of the same name.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try await store.append([audit(5), audit(6)])
        messages = try await receiver.messages(2)
        #expect(messages.map { String(decoding: $0, as: UTF8.self).contains("seq=\"4\"") } == [true, false])
        #expect(lines(path + ".1").count == 3)
        // Waited for: each destination reads the chain on its own, so a commit landing between
        // the file's read and syslog's reaches syslog first and the file at the next wake-up
        // (seen once in seven full runs).
        try await eventually("the new file holds 4 and 5") {
            lines(path).map { $0["seq"]?.intValue } == [4, 5]
        }
        #expect(lines(path).map { $0["seq"]?.intValue } == [4, 5])
        task.cancel()
        try await task.value
        #expect(try receiver.nothingMore())
        try await store.close()
    }

    /// TCP with octet counting; a receiver that is down gets everything, in order, once it is up.
    @Test func aSyslogReceiverThatWasDownGetsTheBacklogOverTCP() async throws {
        let dir = TempDir("audit-ship")
        let store = try SQLiteStore(path: dir.file("warden.db"))
        let port = freePort()
        let spec = AuditSpec(syslog: SyslogTarget(transport: .tcp, host: "127.0.0.1", port: port))
        let task = shipper(store, spec)
        try await store.append((1...5).map { audit($0) })
        // Nothing listens yet: the shipper fails and tries again.
        let receiver = try Receiver(tcp: true, port: port)
        let messages = try await receiver.messages(5)
        #expect(messages.allSatisfy { String(decoding: $0, as: UTF8.self).hasPrefix("<85>1 ") })
        let seqs = messages.compactMap { m -> Int64? in
            let text = String(decoding: m, as: UTF8.self)
            guard let r = text.range(of: "seq=\""), let end = text[r.upperBound...].firstIndex(of: "\"") else {
                return nil
            }
            return Int64(text[r.upperBound..<end])
        }
        #expect(seqs == [1, 2, 3, 4, 5])
        try await store.append([audit(6)])
        #expect(
            try await receiver.messages(1).first.map { String(decoding: $0, as: UTF8.self).contains("seq=\"6\"") }
                == true
        )
        task.cancel()
        try await task.value
        try await store.close()
    }
}

/// A syslog receiver on loopback: UDP datagrams, or TCP frames with octet counting (RFC 6587).
final class Receiver: @unchecked Sendable {
    let fd: Int32
    let tcp: Bool
    let port: Int
    private var connection: Int32 = -1
    private var buffer: [UInt8] = []

    init(tcp: Bool, port: Int = 0) throws {
        self.tcp = tcp
        let fd = socket(
            AF_INET,
            Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0
        )
        self.fd = fd
        guard let bound = bindLoopback(fd, port: port) else { throw SystemError("bind", errno: errno) }
        if tcp { listen(fd, 4) }
        self.port = bound
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        if connection >= 0 { close(connection) }
        close(fd)
    }

    /// The next `n` messages; waits for each (up to 20 s), throws when one does not come.
    func messages(_ n: Int) async throws -> [[UInt8]] {
        try await blockingWork { try (0..<n).map { _ in try self.next() } }
    }

    /// True when no message comes within a short while (after the sender stopped).
    func nothingMore() throws -> Bool {
        var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(tcp ? connection : fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var b = [UInt8](repeating: 0, count: 65_536)
        return recv(tcp ? connection : fd, &b, b.count, 0) < 0
    }

    private func next() throws -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 65_536)
        if !tcp {
            let n = recv(fd, &b, b.count, 0)
            guard n > 0 else { throw SystemError("recv", errno: errno) }
            return Array(b[..<n])
        }
        if connection < 0 {
            connection = accept(fd, nil, nil)
            guard connection >= 0 else { throw SystemError("accept", errno: errno) }
            var timeout = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        while true {
            // "LEN SP MSG"
            if let space = buffer.firstIndex(of: 32), let len = Int(String(decoding: buffer[..<space], as: UTF8.self)),
                buffer.count >= space + 1 + len
            {
                let m = Array(buffer[(space + 1)..<(space + 1 + len)])
                buffer.removeFirst(space + 1 + len)
                return m
            }
            let n = recv(connection, &b, b.count, 0)
            guard n > 0 else { throw SystemError("recv", errno: errno) }
            buffer += b[..<n]
        }
    }
}
