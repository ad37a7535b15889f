import CWardenSys
import Foundation
import Synchronization
import WardenCore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The full path of a program on PATH (or the usual system directories); nil when it is not
/// installed. A test that needs it must fail without it, never skip.
public func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = (dir as NSString).appendingPathComponent(name)
        if access(p, X_OK) == 0 { return p }
    }
    return nil
}

/// The binaries `swift build` put next to the test bundle.
public enum Binaries {
    /// The build products directory (where the test binary itself lives).
    public static let directory: String = {
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // Inside an .xctest bundle directory on some toolchains.
        if dir.hasSuffix(".xctest") || dir.hasSuffix("MacOS") { dir = (dir as NSString).deletingLastPathComponent }
        return dir
    }()

    public static var warden: String { path("warden") }
    public static var sample: String { path("warden-sample") }

    static func path(_ name: String) -> String {
        let p = (directory as NSString).appendingPathComponent(name)
        precondition(
            FileManager.default.isExecutableFile(atPath: p),
            "\(name) is not built at \(p); run swift build first"
        )
        return p
    }
}

/// A temporary directory removed when the value is deinitialised.
public final class TempDir: Sendable {
    public let path: String

    public init(_ prefix: String = "warden-test") {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    @discardableResult
    public func write(_ name: String, _ text: String) -> String {
        let p = file(name)
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Binds `fd` to 127.0.0.1:`port` (0: a port the kernel chooses) with SO_REUSEADDR: the port
/// bound, or nil (with `errno`) when the bind failed.
public func bindLoopback(_ fd: Int32, port: Int) -> Int? {
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { return nil }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A TCP socket listening on 127.0.0.1 at a port the kernel chose: the fd and the port.
public func loopbackListener(backlog: Int32 = 16) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    let port = bindLoopback(fd, port: 0) ?? 0
    listen(fd, backlog)
    return (fd, port)
}

/// A blocking TCP connection to 127.0.0.1:`port` (the fd; check it for failure).
public func loopbackConnect(_ port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    if ok != 0 {
        close(fd)
        return -1
    }
    return fd
}

/// Runs CPU-heavy test work on a thread of its own, not on one of the few threads of Swift's
/// cooperative pool: a test that computes for seconds there stalls every other test's tasks
/// (supervisors, probes, servers) on a 2-core machine.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await blockingWork(body)
}

/// A TCP port that was free a moment ago.
public func freePort() -> Int { PortCheck.freeLoopbackPort() }

/// Makes the test process the reaper of orphans, so that processes left behind by a killed
/// Warden are reaped here (and can be checked for zombies) rather than by init.
public func becomeSubreaper() {
    _ = warden_set_child_subreaper()
    ChildReaper.shared.childrenMayExist()
}

/// Records the events of a subscription and waits for the ones a test expects.
public final class EventLog: Sendable {
    private final class Storage: Sendable {
        let events = Mutex<[Event]>([])
    }
    private let storage = Storage()
    private let task: Task<Void, Never>

    public init(_ subscription: FanOutSubscription<Event>) {
        let storage = self.storage
        task = Task {
            for await event in subscription { storage.events.withLock { $0.append(event) } }
        }
    }

    deinit { task.cancel() }

    public var all: [Event] { storage.events.withLock { $0 } }

    /// The events of `type` (about `subject`, when given).
    public func events(_ type: String, _ subject: String? = nil) -> [Event] {
        all.filter { $0.type == type && (subject == nil || $0.subject == subject) }
    }

    /// Waits until `count` events of `type` about `subject` have been seen; returns them all, or
    /// fails the wait (returns what there is) after `timeout`.
    @discardableResult
    public func wait(
        for type: String,
        _ subject: String? = nil,
        count: Int = 1,
        timeout: Duration = .seconds(30)
    ) async throws -> [Event] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let found = events(type, subject)
            if found.count >= count { return found }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TimedOut(what: "\(count) × \(type) \(subject ?? "")", seen: all.map { "\($0.type) \($0.subject)" })
    }
}

/// A wait that ran out of time, with what was seen meanwhile.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var seen: [String]
    public init(what: String, seen: [String]) {
        self.what = what
        self.seen = seen
    }
    public var description: String { "timed out waiting for \(what); saw: \(seen.suffix(30).joined(separator: ", "))" }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(
    _ what: String,
    timeout: Duration = .seconds(30),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while ContinuousClock.now < deadline {
        do {
            if try await condition() { return }
        } catch {
            // Not yet (for example a socket that is not listening yet); keep trying.
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut(what: what, seen: lastError.map { ["last error: \($0)"] } ?? [])
}

/// Whether a process exists and is not a zombie.
public func processAlive(_ pid: pid_t) -> Bool {
    guard let st = ProcFS.stat(pid) else { return false }
    return !st.isZombie
}

/// Pids of live processes carrying `WARDEN_STATE_DIR=stateDir` in their environment.
public func processesTagged(stateDir: String) -> [pid_t] {
    ProcFS.allPids().filter { pid in
        guard processAlive(pid) else { return false }
        return ProcFS.environment(pid)?["WARDEN_STATE_DIR"] == stateDir
    }
}

/// Zombie processes whose parent is this process or `parent`.
public func zombies(parents: [pid_t]) -> [pid_t] {
    ProcFS.allPids().filter { pid in
        guard let st = ProcFS.stat(pid) else { return false }
        return st.isZombie && parents.contains(st.ppid)
    }
}

/// Runs blocking work (socket calls) on a thread of its own, so that it never occupies one of the
/// few threads of Swift's cooperative pool.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}

/// Zombies of `parents` that are still zombies a moment later: a child that has just exited is a
/// zombie for the microseconds before its reaper runs, which is no leak.
public func lingeringZombies(parents: [pid_t]) async throws -> [pid_t] {
    let first = Set(zombies(parents: parents).compactMap { pid in ProcFS.stat(pid).map { "\(pid):\($0.startTime)" } })
    try await Task.sleep(for: .milliseconds(300))
    let second = zombies(parents: parents).filter { pid in
        ProcFS.stat(pid).map { first.contains("\(pid):\($0.startTime)") } ?? false
    }
    return second
}
