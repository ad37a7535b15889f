import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The outcome of one probe attempt.
public struct ProbeResult: Sendable, Hashable {
    public var ok: Bool
    /// What was seen: `HTTP 200`, `connection refused`, `exit code 1`, `timed out after 1s`.
    public var detail: String
    public var latency: Duration

    public init(ok: Bool, detail: String, latency: Duration) {
        self.ok = ok
        self.detail = detail
        self.latency = latency
    }
}

/// Runs one attempt of a probe check, with a deadline, without blocking a thread.
public enum Probe {
    /// Where an exec check runs: the service's environment, directory and identity.
    public struct ExecContext: Sendable {
        public var environment: [String: String]
        public var cwd: String
        public var identity: Accounts.Identity?
        /// What an https:// check is sent with (certificates verified); nil: such checks fail.
        public var transport: (any HTTPTransport)?

        public init(
            environment: [String: String],
            cwd: String,
            identity: Accounts.Identity?,
            transport: (any HTTPTransport)? = nil
        ) {
            self.environment = environment
            self.cwd = cwd
            self.identity = identity
            self.transport = transport
        }
    }

    /// Runs `check` once; never takes much longer than `timeout`.
    public static func run(_ check: ProbeSpec.Check, timeout: Duration, exec: ExecContext) async -> ProbeResult {
        let clock = SystemClock()
        let start = clock.now()
        let (ok, detail): (Bool, String)
        switch check {
        case .tcp(let host, let port):
            (ok, detail) = await tcp(host: host, port: port, timeout: timeout)
        case .http(let target) where target.secure:
            (ok, detail) = await https(target, timeout: timeout, transport: exec.transport)
        case .http(let target):
            (ok, detail) = await http(target, timeout: timeout)
        case .exec(let command, let executable):
            (ok, detail) = await execute(command, executable: executable, context: exec, timeout: timeout)
        }
        return ProbeResult(ok: ok, detail: detail, latency: clock.now() - start)
    }

    static func tcp(host: String, port: Int, timeout: Duration) async -> (Bool, String) {
        switch await connect(host: host, port: port, timeout: timeout) {
        case .success(let fd):
            close(fd)
            return (true, "connected")
        case .failure(let message):
            return (false, message.text)
        }
    }

    /// An https:// check: a GET whose certificate must verify (against the target's CA file, else
    /// the system's authorities); a 2xx or 3xx answer passes.
    static func https(_ target: HTTPTarget, timeout: Duration, transport: (any HTTPTransport)?) async -> (Bool, String)
    {
        guard let transport else { return (false, "https checks are not available in this process") }
        var request = OutboundRequest(url: target.url)
        request.method = "GET"
        request.headers = [("user-agent", "warden-probe"), ("accept", "*/*")]
        request.timeout = timeout
        request.caFile = target.caFile
        request.maxResponse = 64 << 10
        do {
            let response = try await transport.send(request)
            return ((200..<400).contains(response.status), "HTTP \(response.status)")
        } catch {
            return (false, error.message)
        }
    }

    static func http(_ target: HTTPTarget, timeout: Duration) async -> (Bool, String) {
        let clock = SystemClock()
        let deadline = clock.now() + timeout
        let fd: Int32
        switch await connect(host: target.host, port: target.port, timeout: timeout) {
        case .success(let f): fd = f
        case .failure(let message): return (false, message.text)
        }
        defer { close(fd) }
        let hostHeader = target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
        let request =
            "GET \(target.path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: warden-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        let total = bytes.count
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, total - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                let remaining = deadline - clock.now()
                let writable =
                    remaining > .zero
                    ? await IOWatcher.shared.wait(fd: fd, events: IOWatcher.writable, timeout: remaining) : false
                if !writable { return (false, "timed out after \(DurationFormat.format(timeout))") }
                continue
            }
            return (false, "send failed: \(String(cString: strerror(errno)))")
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !response.contains(UInt8(ascii: "\n")) && response.count < 8192 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                response.append(contentsOf: buffer[..<n])
                continue
            }
            if n == 0 { break }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                let remaining = deadline - clock.now()
                let readable =
                    remaining > .zero
                    ? await IOWatcher.shared.wait(fd: fd, events: IOWatcher.readable, timeout: remaining) : false
                if !readable {
                    return (false, "timed out after \(DurationFormat.format(timeout)) waiting for the answer")
                }
                continue
            }
            return (false, "read failed: \(String(cString: strerror(errno)))")
        }
        let line = String(
            decoding: response.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") },
            as: UTF8.self
        )
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return (
                false,
                response.isEmpty ? "connection closed without an answer" : "not an HTTP answer: \(line.prefix(60))"
            )
        }
        return ((200..<400).contains(status), "HTTP \(status)")
    }

    static func execute(
        _ command: [String],
        executable: String,
        context: ExecContext,
        timeout: Duration
    ) async -> (Bool, String) {
        var request = SpawnRequest(
            executable: executable,
            arguments: command,
            environment: context.environment,
            cwd: context.cwd,
            identity: context.identity
        )
        request.newSession = true
        do {
            let clock = SystemClock()
            let start = clock.now()
            let status = try await ChildProcess.run(request, timeout: timeout)
            if clock.now() - start >= timeout, !status.isSuccess {
                return (false, "timed out after \(DurationFormat.format(timeout))")
            }
            return (status.isSuccess, "\(status)")
        } catch {
            return (false, "\(error)")
        }
    }

    struct Failure: Error {
        var text: String
    }

    /// Connects with a deadline; returns the connected (non-blocking) fd.
    static func connect(host: String, port: Int, timeout: Duration) async -> Result<Int32, Failure> {
        var inProgress: Int32 = 0
        var err: Int32 = 0
        let fd = warden_tcp_connect(host, String(port), &inProgress, &err)
        if fd == -2 { return .failure(Failure(text: "cannot resolve \(host): \(String(cString: gai_strerror(err)))")) }
        if fd < 0 { return .failure(Failure(text: String(cString: strerror(err)).lowercased())) }
        if inProgress != 0 {
            let ready = await IOWatcher.shared.wait(fd: fd, events: IOWatcher.writable, timeout: timeout)
            if !ready {
                close(fd)
                return .failure(Failure(text: "timed out after \(DurationFormat.format(timeout))"))
            }
            let soError = warden_socket_error(fd)
            if soError != 0 {
                close(fd)
                return .failure(Failure(text: String(cString: strerror(soError)).lowercased()))
            }
        }
        return .success(fd)
    }
}

/// Counts consecutive probe results against failure and success thresholds.
///
/// A probe starts out passing; `failures` consecutive failures make it failed, and then
/// `successes` consecutive successes make it pass again. Failures inside the start grace period
/// do not count.
public struct ProbeTracker: Sendable, Hashable {
    public enum Transition: Sendable, Hashable {
        case none
        case failed
        case recovered
    }

    public let failureThreshold: Int
    public let successThreshold: Int
    public private(set) var passing = true
    public private(set) var consecutiveFailures = 0
    public private(set) var consecutiveSuccesses = 0
    /// Whether the probe has passed at least once since the tracker was made (or reset).
    public private(set) var hasPassed = false

    public init(failures: Int, successes: Int) {
        failureThreshold = max(1, failures)
        successThreshold = max(1, successes)
    }

    /// Records one result; returns whether the probe crossed a threshold.
    public mutating func record(ok: Bool, inGrace: Bool = false) -> Transition {
        if ok {
            hasPassed = true
            consecutiveFailures = 0
            consecutiveSuccesses += 1
            if !passing && consecutiveSuccesses >= successThreshold {
                passing = true
                return .recovered
            }
            return .none
        }
        consecutiveSuccesses = 0
        if inGrace { return .none }
        consecutiveFailures += 1
        if passing && consecutiveFailures >= failureThreshold {
            passing = false
            return .failed
        }
        return .none
    }

    /// Starts counting afresh (after a restart).
    public mutating func reset() {
        passing = true
        consecutiveFailures = 0
        consecutiveSuccesses = 0
        hasPassed = false
    }
}
