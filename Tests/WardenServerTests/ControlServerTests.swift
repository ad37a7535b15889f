import Foundation
import Logging
import ServiceLifecycle
import Testing
import WardenCore
import WardenServer
import WardenStore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The local control socket, served by a real ServiceGroup over a real SQLite store.
@Suite("Control socket", .timeLimit(.minutes(1)))
struct ControlServerTests {
    init() { becomeSubreaper() }

    struct Node {
        let dir: TempDir
        let group: ServiceGroup
        let client: ControlClient
        let running: Task<Void, any Error>
        let store: SQLiteStore
    }

    func startNode() throws -> Node {
        let dir = TempDir("warden-ctl")
        let path = dir.write(
            "warden.yaml",
            "state_dir: \(dir.file("state"))\nservices:\n  a:\n    run: [\(Binaries.sample), --status, hello]\n  b:\n    run: [\(Binaries.sample)]\n"
        )
        let spec = try SpecLoader().load(path: path)
        let state = try StateDirectory(path: spec.stateDir)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let store = try SQLiteStore(path: state.databasePath)
        let bus = EventBus()
        let supervisor = Supervisor(spec: spec, bus: bus, logger: logger)
        let group = ServiceGroup(
            services: [
                EventRecorder(bus: bus, store: store, logger: logger), supervisor,
                ControlServer(path: state.controlSocket, supervisor: supervisor, store: store, logger: logger),
            ],
            logger: logger
        )
        let running = Task {
            try await group.run()
            _ = state  // holds the lock until the group has stopped
        }
        return Node(
            dir: dir,
            group: group,
            client: ControlClient(path: state.controlSocket),
            running: running,
            store: store
        )
    }

    func stop(_ node: Node) async throws {
        await node.group.triggerGracefulShutdown()
        try await node.running.value
        try await node.store.close()
    }

    @Test func statusAndActionsOverTheSocket() async throws {
        let node = try startNode()
        var status: [ServiceStatus] = []
        try await eventually("both services run") {
            status = (try? await onThread { try node.client.send(ControlRequest(command: .status)) }.services) ?? []
            return status.count == 2 && status.allSatisfy { $0.state == "running" }
        }
        #expect(status.map(\.name) == ["a", "b"])
        let stopped = try await onThread { try node.client.send(ControlRequest(command: .stop, service: "b")) }
        #expect(stopped.ok)
        #expect(stopped.services?.first?.state == "stopping" || stopped.services?.first?.state == "stopped")
        let unknown = try await onThread { try node.client.send(ControlRequest(command: .restart, service: "zzz")) }
        #expect(!unknown.ok)
        #expect(unknown.error?.contains("no service named 'zzz'") == true)
        let missing = try await onThread { try node.client.send(ControlRequest(command: .start)) }
        #expect(missing.error == "missing service")
        try await stop(node)
    }

    @Test func eventsAreServedFromTheStoreAndFollowed() async throws {
        let node = try startNode()
        try await eventually("events are recorded") {
            let r = try await onThread {
                try node.client.send(ControlRequest(command: .events, types: ["service.started"]))
            }
            return r.events?.count == 2
        }
        let client = node.client
        let followed = Task {
            try await onThread { () -> [Event] in
                var seen: [Event] = []
                try client.stream(ControlRequest(command: .events, subject: "a", follow: true)) { response in
                    seen += response.events ?? []
                    if let e = response.event { seen.append(e) }
                    return seen.filter { $0.type == EventType.serviceStarted }.count < 2
                }
                return seen
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await onThread { try client.send(ControlRequest(command: .restart, service: "a")) }.ok)
        let seen = try await followed.value
        #expect(seen.allSatisfy { $0.subject == "a" })
        #expect(seen.filter { $0.type == EventType.serviceStarted }.count == 2)
        let ids = seen.map(\.id)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        try await stop(node)
    }

    @Test func aMalformedRequestGetsAnError() async throws {
        let node = try startNode()
        let client = node.client
        try await eventually("the socket is up") {
            (try? await onThread { try client.send(ControlRequest(command: .ping)) })?.ok == true
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let path = node.client.path
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        let garbage = "{not json\n"
        _ = garbage.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        close(fd)
        let answer = String(decoding: buffer[..<max(0, n)], as: UTF8.self)
        #expect(answer.contains("\"ok\":false"))
        #expect(answer.contains("bad request"))
        try await stop(node)
    }
}
