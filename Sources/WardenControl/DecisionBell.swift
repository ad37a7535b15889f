import Foundation
import Synchronization

/// Rings when the fleet may have new decisions: long-polling agents wake and look. A ring may be
/// spurious (they look and wait again); a ring is never lost between looking and waiting, since
/// a waiter names the version it saw before looking.
final class DecisionBell: Sendable {
    private struct State {
        var version = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits that timed out or were cancelled before they were registered.
        var over: Set<UInt64> = []
        var next: UInt64 = 0
        var closed = false
    }
    private let state = Mutex(State())

    var version: Int { state.withLock { $0.version } }

    /// Set at shutdown: every wait ends at once, and no new one waits.
    var isClosed: Bool { state.withLock { $0.closed } }

    func close() {
        state.withLock { $0.closed = true }
        ring()
    }

    func ring() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.version += 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Returns when the bell rings after `seen`, or after `timeout`.
    func wait(after seen: Int, timeout: Duration) async {
        let id = state.withLock { s -> UInt64 in
            s.next += 1
            return s.next
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.resume(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.closed || s.version > seen || s.over.remove(id) != nil { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.resume(id)
        }
        timer.cancel()
        _ = state.withLock { $0.over.remove(id) }
    }

    private func resume(_ id: UInt64) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiters.removeValue(forKey: id) { return w }
            s.over.insert(id)
            return nil
        }
        waiter?.resume()
    }
}
