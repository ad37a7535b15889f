import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Finds probe ports that another program already listens on, before anything is started.
///
/// A service whose readiness or health probe targets a local port that is already taken would
/// either fail to bind or, worse, be judged by someone else's answers. Processes started by a
/// Warden with the same state directory (about to be adopted) are not conflicts.
public enum PortCheck {
    /// A local listening socket.
    public struct Listener: Sendable, Hashable {
        public var port: Int
        public var inode: UInt64
    }

    /// One port conflict, described for people.
    public struct Conflict: Sendable, Hashable, CustomStringConvertible {
        public var service: String
        public var key: String
        public var port: Int
        public var owner: String
        public var description: String {
            "services.\(service).\(key): port \(port) is already in use by \(owner); stop that program or change the port"
        }
    }

    /// Conflicts for the services of `spec` that `skip` does not name.
    public static func conflicts(in spec: Spec, skip: Set<String> = []) -> [Conflict] {
        var wanted: [(service: String, key: String, port: Int)] = []
        for s in spec.services where !skip.contains(s.name) {
            var checks: [(String, ProbeSpec.Check)] = []
            if case .probe(let p)? = s.ready?.kind { checks.append(("ready", p.check)) }
            if let h = s.health { checks.append(("health", h.check)) }
            for (key, check) in checks {
                switch check {
                case .tcp(let host, let port) where isLocal(host): wanted.append((s.name, key, port))
                case .http(let t) where isLocal(t.host): wanted.append((s.name, key, t.port))
                default: break
                }
            }
        }
        guard !wanted.isEmpty else { return [] }
        let listeners = listening()
        var result: [Conflict] = []
        var owners: [UInt64: (pid_t, String)]?
        for w in wanted {
            guard let l = listeners.first(where: { $0.port == w.port }) else { continue }
            if owners == nil { owners = socketOwners() }
            if let (pid, _) = owners?[l.inode], ProcFS.environment(pid)?["WARDEN_STATE_DIR"] == spec.stateDir {
                continue
            }
            let owner = owners?[l.inode].map { "pid \($0.0) (\($0.1))" } ?? "another process"
            result.append(Conflict(service: w.service, key: w.key, port: w.port, owner: owner))
        }
        return result
    }

    /// Why Warden could not listen on host:port (something else holds it), or nil when it can.
    public static func listenProblem(host: String, port: Int) -> String? {
        var inProgress: Int32 = 0
        var err: Int32 = 0
        let fd = warden_tcp_connect(host, String(port), &inProgress, &err)
        if fd >= 0 {
            // A connection may still be pending; either way someone may be listening.
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = inProgress == 0 || poll(&pfd, 1, 200) > 0
            let connected = ready && warden_socket_error(fd) == 0
            close(fd)
            if connected {
                let owner = listening().first { $0.port == port }.flatMap { socketOwners()[$0.inode] }
                return
                    "\(host):\(port) is already in use by \(owner.map { "pid \($0.0) (\($0.1))" } ?? "another process"); stop it or choose another address"
            }
        }
        return nil
    }

    /// A port on 127.0.0.1 that was free a moment ago (the kernel's choice).
    public static func freeLoopbackPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func isLocal(_ host: String) -> Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "0.0.0.0" || host == "::"
    }

    /// TCP sockets in LISTEN state (IPv4 and IPv6).
    ///
    /// The kernel builds these files a read at a time, and a socket that comes or goes between two
    /// reads can make it skip a line: each file is read in large reads, twice, and the listeners
    /// of both passes are kept.
    public static func listening() -> [Listener] {
        var result: [Listener] = []
        var seen = Set<UInt64>()
        for file in ["/proc/net/tcp", "/proc/net/tcp6", "/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = readProcFile(file) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 9, f[3] == "0A" else { continue }
                guard let colon = f[1].lastIndex(of: ":"), let port = Int(f[1][f[1].index(after: colon)...], radix: 16),
                    let inode = UInt64(f[9])
                else { continue }
                if seen.insert(inode).inserted { result.append(Listener(port: port, inode: inode)) }
            }
        }
        return result
    }

    /// A /proc file, read in reads of up to 4 MiB.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Socket inode → (pid, command) for every process whose fds we can read.
    static func socketOwners() -> [UInt64: (pid_t, String)] {
        var owners: [UInt64: (pid_t, String)] = [:]
        for pid in ProcFS.allPids() {
            let dir = "/proc/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for fd in fds {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(fd)"),
                    target.hasPrefix("socket:["), let inode = UInt64(target.dropFirst(8).dropLast())
                else { continue }
                owners[inode] = (pid, ProcFS.stat(pid)?.command ?? "?")
            }
        }
        return owners
    }
}
