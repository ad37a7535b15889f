import Foundation
import Logging
import Synchronization
import WardenCore
import WardenHTTP
import WardenHeal
import WardenStore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A supervisor and a healing engine over a spec written for the test, a real SQLite store, and
/// every event recorded.
final class HealHarness: Sendable {
    let node: SupervisedNode
    let store: SQLiteStore
    let engine: HealEngine
    private let healing: Task<Void, any Error>

    var dir: TempDir { node.dir }
    var spec: Spec { node.spec }
    var bus: EventBus { node.bus }
    var log: EventLog { node.log }
    var supervisor: Supervisor { node.supervisor }

    /// `SAMPLE` is the warden-sample binary and `DIR` the test's directory; `clock` is the
    /// engine's (the supervisor keeps real time).
    init(_ yaml: String, clock: any WardenClock = SystemClock()) throws {
        node = try SupervisedNode(
            yaml,
            prefix: "warden-heal",
            sections: [HealingSection.self],
            seed: 3,
            logLevel: .error
        )
        store = try SQLiteStore(path: node.dir.file("state/warden.db"))
        engine = HealEngine(
            .init(
                spec: node.spec,
                services: node.supervisor,
                bus: node.bus,
                store: store,
                clock: clock,
                logger: node.logger,
                directory: node.dir.file("state/incidents"),
                transport: AsyncHTTPTransport.shared
            )
        )
        let engine = self.engine
        healing = Task { try await engine.run() }
    }

    /// The one incident there should be, once it reaches one of `statuses`.
    /// (The wait is long because a whole ladder, with its verification windows, may have to run on
    /// a loaded machine; a passing test does not wait for it.)
    func incident(_ statuses: Set<Incident.Status>, timeout: Duration = .seconds(90)) async throws -> Incident {
        var found: Incident?
        do {
            try await eventually("an incident in \(statuses.map(\.rawValue))", timeout: timeout) {
                found = try await engine.incidents().first { statuses.contains($0.status) }
                return found != nil
            }
        } catch {
            // What happened instead, for the failure message.
            let incidents = (try? await engine.incidents().map { "\($0.id) \($0.status.rawValue)" }) ?? []
            throw TimedOut(
                what: "an incident in \(statuses.map(\.rawValue)) (incidents: \(incidents))",
                seen: log.all.map { "\($0.type) \($0.subject)" }
            )
        }
        return found!
    }

    func shutdown() async throws {
        healing.cancel()
        try await node.shutdown()
        _ = try? await healing.value
    }
}

/// A real HTTP listener that answers requests with the statuses it is given and keeps the bodies.
final class HookListener: Sendable {
    let port: Int
    private let fd: Int32
    private final class Bodies: Sendable {
        let list = Mutex<[String]>([])
    }
    private let bodies = Bodies()

    /// Answers with `statuses` in turn, one per request; the last one repeats.
    init(statuses: [Int]) {
        let (fd, port) = loopbackListener()
        self.fd = fd
        self.port = port
        let listener = fd
        let store = self.bodies
        Thread {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                var data = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 65536)
                var index = 0
                while true {
                    let n = recv(client, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    data += buffer[..<n]
                    if let body = HookListener.body(data) {
                        index = store.list.withLock { list -> Int in
                            list.append(body)
                            return list.count - 1
                        }
                        break
                    }
                }
                let status = statuses[min(index, statuses.count - 1)]
                let answer = "HTTP/1.1 \(status) X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                _ = answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }.start()
    }

    convenience init(status: Int = 200) { self.init(statuses: [status]) }

    var received: [String] { bodies.list.withLock { $0 } }

    /// The body of a complete request in `data`, or nil while it is incomplete.
    static func body(_ data: [UInt8]) -> String? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard
            let end = (0...max(0, data.count - 4)).first(where: {
                data.count >= $0 + 4 && Array(data[$0..<($0 + 4)]) == separator
            })
        else {
            return nil
        }
        let head = String(decoding: data[..<end], as: UTF8.self).lowercased()
        let length =
            head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let start = end + 4
        guard data.count >= start + length else { return nil }
        return String(decoding: data[start..<(start + length)], as: UTF8.self)
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
