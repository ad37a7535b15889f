import CWardenSys
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WardenCore
import WardenStore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The local control socket (`<state_dir>/run/control.sock`, mode 0600): status, events and
/// start/stop/restart for the CLI on the same machine.
///
/// Each connection is served on its own thread with blocking I/O; requests are JSON lines. Only
/// the owner of the state directory (root, usually) can connect.
public final class ControlServer: Service, Sendable {
    let path: String
    let supervisor: Supervisor
    let store: any Store
    let logger: Logger
    private let listener = Mutex<Int32>(-1)

    public init(path: String, supervisor: Supervisor, store: any Store, logger: Logger) {
        self.path = path
        self.supervisor = supervisor
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        let fd = warden_unix_listen(path, 64)
        guard fd >= 0 else {
            throw WardenError(.io, "cannot listen on the control socket \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o600)
        listener.withLock { $0 = fd }
        let thread = Thread { [self] in acceptLoop(fd) }
        thread.name = "warden-control"
        thread.start()
        try? await gracefulShutdown()
        listener.withLock { l in
            shutdown(l, Int32(SHUT_RDWR))
            close(l)
            l = -1
        }
        unlink(path)
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = warden_accept(fd)
            if client < 0 { return }
            let thread = Thread { [self] in serve(client) }
            thread.name = "warden-control-client"
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        guard let line = readLine(fd) else { return }
        let request: ControlRequest
        do {
            request = try ControlCoding.decoder().decode(ControlRequest.self, from: Data(line.utf8))
        } catch {
            write(fd, ControlResponse(ok: false, error: "bad request: \(error)"))
            return
        }
        if request.command == .events, request.follow == true {
            follow(fd, request)
            return
        }
        let response = blocking { await self.answer(request) }
        write(fd, response)
    }

    func answer(_ request: ControlRequest) async -> ControlResponse {
        do {
            switch request.command {
            case .ping:
                return ControlResponse(ok: true)
            case .status:
                return ControlResponse(ok: true, services: await supervisor.status())
            case .start, .stop, .restart:
                guard let name = request.service else { return ControlResponse(ok: false, error: "missing service") }
                switch request.command {
                case .start: try await supervisor.start(name)
                case .stop: try await supervisor.stop(name)
                default: try await supervisor.restart(name)
                }
                return ControlResponse(
                    ok: true,
                    services: [await supervisor.status().first { $0.name == name }].compactMap { $0 }
                )
            case .events:
                return ControlResponse(ok: true, events: try await recentEvents(request.query))
            case .reload:
                return ControlResponse(ok: false, error: "send SIGHUP to reload")
            }
        } catch {
            return ControlResponse(ok: false, error: "\(error)")
        }
    }

    /// The newest `limit` events matching the query, oldest first.
    func recentEvents(_ query: EventQuery) async throws -> [Event] {
        var q = query
        if q.afterID == nil && q.since == nil { q.newestFirst = true }
        let events = try await store.events(matching: q)
        return q.newestFirst ? events.reversed() : events
    }

    /// Sends stored events, then streams new ones until the client goes away. Events published
    /// between the query and the subscription are not lost: the subscription starts first and
    /// duplicates are skipped by id.
    private func follow(_ fd: Int32, _ request: ControlRequest) {
        let bus = supervisor.bus
        let query = request.query
        let subscription = bus.subscribe(name: "control-follow-\(fd)", capacity: 10_000) {
            query.matches(Event(id: .max, time: $0.time, type: $0.type, source: $0.source, subject: $0.subject))
        }
        let stored = blocking { (try? await self.recentEvents(query)) ?? [] }
        var lastID = stored.last?.id ?? (query.afterID ?? 0)
        guard write(fd, ControlResponse(ok: true, events: stored)) else { return }
        // Detect the client closing its end while we wait for events.
        let closed = Mutex(false)
        let watcher = Thread {
            var byte: UInt8 = 0
            while recv(fd, &byte, 1, 0) > 0 {}
            closed.withLock { $0 = true }
            subscription.cancel()
        }
        watcher.start()
        while !closed.withLock({ $0 }) {
            let batch = blocking { await subscription.nextBatch(max: 256) }
            if batch.isEmpty { break }
            for event in batch where event.id > lastID {
                lastID = event.id
                if !write(fd, ControlResponse(ok: true, event: event)) {
                    subscription.cancel()
                    return
                }
            }
        }
    }

    @discardableResult
    private func write(_ fd: Int32, _ response: ControlResponse) -> Bool {
        guard var data = try? ControlCoding.encoder().encode(response) else { return false }
        data.append(UInt8(ascii: "\n"))
        return data.withUnsafeBytes { raw -> Bool in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
    }

    private func readLine(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var byte: UInt8 = 0
        while data.count < 1 << 20 {
            let n = recv(fd, &byte, 1, 0)
            if n <= 0 { return data.isEmpty ? nil : String(decoding: data, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { break }
            data.append(byte)
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs async work from a plain thread and waits for it.
func blocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await work()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}
