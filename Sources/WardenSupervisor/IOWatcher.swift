import CWardenSys
import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Readiness notifications for file descriptors, from one epoll thread.
///
/// Used for sd_notify sockets, pidfds of adopted processes and probe sockets, so that none of them
/// needs a thread of its own or a blocked task. Callbacks run on the watcher's thread and must be
/// quick (typically: read what is there and yield it into an AsyncStream).
public final class IOWatcher: Sendable {
    /// The process-wide watcher.
    public static let shared = IOWatcher()

    public typealias Callback = @Sendable (_ events: UInt32) -> Void

    private struct Registration {
        let fd: Int32
        let callback: Callback
        let oneShot: Bool
    }

    private struct State {
        var registrations: [UInt64: Registration] = [:]
        var nextToken: UInt64 = 0
    }

    private let epfd: Int32
    private let state = Mutex(State())

    private init() {
        epfd = warden_epoll_create()
        precondition(epfd >= 0, "epoll_create1 failed: \(errno)")
        let thread = Thread { [self] in self.loop() }
        thread.name = "warden-io"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    public static var readable: UInt32 { warden_epollin() }
    public static var writable: UInt32 { warden_epollout() }

    /// Calls `callback` whenever `fd` is ready for `events` (level-triggered) until ``remove(_:)``.
    /// Returns a token, or nil when epoll refused the fd.
    ///
    /// With `once`, the callback runs at most once and the registration then ends by itself (for
    /// fds that stay ready, such as the pidfd of an exited process).
    public func add(
        fd: Int32,
        events: UInt32 = IOWatcher.readable,
        once: Bool = false,
        callback: @escaping Callback
    ) -> UInt64? {
        register(fd: fd, events: once ? events | warden_epolloneshot() : events, oneShot: once, callback: callback)
    }

    /// Stops watching; after this returns the callback may still run once if an event was in
    /// flight, so callbacks must tolerate a closed fd. The caller closes the fd.
    public func remove(_ token: UInt64) {
        let reg = state.withLock { $0.registrations.removeValue(forKey: token) }
        if let reg { _ = warden_epoll_del(epfd, reg.fd) }
    }

    /// Waits until `fd` is ready for `events` (or errors/hangs up), or until `deadline` seconds of
    /// monotonic time pass. Returns false on timeout or cancellation.
    public func wait(fd: Int32, events: UInt32, timeout: Duration) async -> Bool {
        let waiter = Waiter()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                waiter.set(continuation)
                let token = register(fd: fd, events: events | warden_epolloneshot(), oneShot: true) { _ in
                    waiter.finish(true)
                }
                guard let token else {
                    waiter.finish(true)
                    return
                }
                waiter.token = token
                Task { [self] in
                    try? await SystemClock().sleep(for: timeout)
                    if waiter.finish(false) { self.remove(token) }
                }
            }
        } onCancel: {
            if waiter.finish(false), let token = waiter.token { self.remove(token) }
        }
    }

    /// One pending ``wait(fd:events:timeout:)``: resumed exactly once.
    private final class Waiter: Sendable {
        private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        private let tokenStorage = Mutex<UInt64?>(nil)

        var token: UInt64? {
            get { tokenStorage.withLock { $0 } }
            set { tokenStorage.withLock { $0 = newValue } }
        }

        func set(_ c: CheckedContinuation<Bool, Never>) { continuation.withLock { $0 = c } }

        /// Resumes with `value` unless already resumed; returns whether this call resumed it.
        @discardableResult
        func finish(_ value: Bool) -> Bool {
            guard let c = continuation.withLock({ $0.take() }) else { return false }
            c.resume(returning: value)
            return true
        }
    }

    private func register(fd: Int32, events: UInt32, oneShot: Bool, callback: @escaping Callback) -> UInt64? {
        state.withLock { s -> UInt64? in
            s.nextToken += 1
            let token = s.nextToken
            guard warden_epoll_add(epfd, fd, events, token) == 0 else { return nil }
            s.registrations[token] = Registration(fd: fd, callback: callback, oneShot: oneShot)
            return token
        }
    }

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            let n = warden_epoll_wait(epfd, &tokens, &events, 64, -1)
            if n <= 0 { continue }
            for i in 0..<Int(n) {
                let token = tokens[i]
                let reg = state.withLock { s -> Registration? in
                    guard let r = s.registrations[token] else { return nil }
                    if r.oneShot {
                        s.registrations.removeValue(forKey: token)
                        _ = warden_epoll_del(epfd, r.fd)
                    }
                    return r
                }
                reg?.callback(events[i])
            }
        }
    }
}
