import Foundation
import Logging
import ServiceLifecycle
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Warden's own messages to the service manager that runs it (systemd with `Type=notify`), by the
/// sd_notify protocol: a datagram to the socket in `NOTIFY_SOCKET` (a path, or `@name` in the
/// abstract namespace). `READY=1` with a `STATUS=` once every service has started (or failed),
/// `WATCHDOG=1` every half of `WATCHDOG_USEC` while the supervisor answers, `STOPPING=1` on
/// graceful shutdown. Without `NOTIFY_SOCKET` it does nothing.
public struct SystemdNotifier: Service {
    let supervisor: Supervisor
    let environment: [String: String]
    let logger: Logger

    public init(supervisor: Supervisor, environment: [String: String], logger: Logger) {
        self.supervisor = supervisor
        self.environment = environment
        self.logger = logger
    }

    /// How often to say WATCHDOG=1: half the manager's `WATCHDOG_USEC`, when it is meant for this
    /// process (`WATCHDOG_PID` absent or ours).
    static func watchdogInterval(_ environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .microseconds(max(usec / 2, 1000))
    }

    public func run() async throws {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let socket = NotifySocketClient(path: path)
        await supervisor.waitUntilSettled()
        let statuses = await supervisor.status()
        let running = statuses.filter { $0.state == "running" }.count
        socket.send("READY=1\nSTATUS=supervising \(running) of \(statuses.count) services\nMAINPID=\(getpid())")
        let watchdog = Self.watchdogInterval(environment, pid: getpid())
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let wait = watchdog ?? .seconds(3600)
                try? await Task.sleep(for: wait)
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                guard watchdog != nil else { continue }
                // Only a supervisor that answers keeps the watchdog fed (a stuck actor never gets
                // here, and systemd restarts Warden).
                _ = await supervisor.status()
                socket.send("WATCHDOG=1")
            }
        } onGracefulShutdown: {
            socket.send("STOPPING=1\nSTATUS=stopping")
        }
    }
}

/// A datagram client of a notify socket.
struct NotifySocketClient: Sendable {
    let path: String

    func send(_ message: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // `@name`: the abstract namespace, a leading NUL.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let data = Array(message.utf8)
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                data.withUnsafeBytes { sendto(fd, $0.baseAddress, data.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }
}
