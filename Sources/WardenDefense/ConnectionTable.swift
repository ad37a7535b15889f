import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// One row of /proc/net/tcp or /proc/net/tcp6.
public struct TCPEntry: Sendable, Hashable {
    public enum State: UInt8, Sendable {
        case established = 1
        case synSent, synRecv, finWait1, finWait2, timeWait, close, closeWait, lastAck, listen,
            closing, newSynRecv
    }
    public var local: IPAddress
    public var localPort: UInt16
    public var remote: IPAddress
    public var remotePort: UInt16
    public var state: State

    public init(local: IPAddress, localPort: UInt16, remote: IPAddress, remotePort: UInt16, state: State) {
        self.local = local
        self.localPort = localPort
        self.remote = remote
        self.remotePort = remotePort
        self.state = state
    }
}

/// Reads the kernel's TCP connection table. Parsing works on bytes, without a String per line.
public enum ConnectionTable {
    /// Both tables of the calling process's network namespace.
    public static func read(root: String = "/proc/net") -> [TCPEntry] {
        var entries: [TCPEntry] = []
        for file in ["tcp", "tcp6"] {
            guard let bytes = readAll("\(root)/\(file)") else { continue }
            bytes.withUnsafeBufferPointer { parse($0, into: &entries) }
        }
        return entries
    }

    static func readAll(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256 << 10)  // few, large reads: fewer skipped lines
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Parses the text of /proc/net/tcp or tcp6 (the header line is skipped).
    public static func parse(_ text: UnsafeBufferPointer<UInt8>, into entries: inout [TCPEntry]) {
        var i = 0
        let n = text.count
        // Skip the header.
        while i < n && text[i] != 10 { i += 1 }
        i += 1
        while i < n {
            var lineEnd = i
            while lineEnd < n && text[lineEnd] != 10 { lineEnd += 1 }
            if let e = parseLine(UnsafeBufferPointer(rebasing: text[i..<lineEnd])) { entries.append(e) }
            i = lineEnd + 1
        }
    }

    static func hex(_ b: UInt8) -> UInt32? {
        switch b {
        case 48...57: return UInt32(b - 48)
        case 65...70: return UInt32(b - 55)
        case 97...102: return UInt32(b - 87)
        default: return nil
        }
    }

    /// `  0: 0100007F:1F90 00000000:0000 0A ...`
    static func parseLine(_ line: UnsafeBufferPointer<UInt8>) -> TCPEntry? {
        var fields: [(Int, Int)] = []
        fields.reserveCapacity(4)
        var i = 0
        while i < line.count && fields.count < 4 {
            while i < line.count && line[i] == 32 { i += 1 }
            let start = i
            while i < line.count && line[i] != 32 { i += 1 }
            if i > start { fields.append((start, i)) }
        }
        guard fields.count == 4,
            let (local, lport) = address(line, fields[1]),
            let (remote, rport) = address(line, fields[2]),
            fields[3].1 - fields[3].0 == 2,
            let hi = hex(line[fields[3].0]), let lo = hex(line[fields[3].0 + 1]),
            let state = TCPEntry.State(rawValue: UInt8(hi << 4 | lo))
        else { return nil }
        return TCPEntry(local: local, localPort: lport, remote: remote, remotePort: rport, state: state)
    }

    /// `0100007F:1F90` (IPv4, host byte order words) or 32 hex digits for IPv6.
    static func address(_ line: UnsafeBufferPointer<UInt8>, _ range: (Int, Int)) -> (IPAddress, UInt16)? {
        var colon = range.0
        while colon < range.1 && line[colon] != 58 { colon += 1 }
        let digits = colon - range.0
        guard colon < range.1, digits == 8 || digits == 32 else { return nil }
        var port: UInt32 = 0
        for j in (colon + 1)..<range.1 {
            guard let h = hex(line[j]) else { return nil }
            port = port << 4 | h
        }
        var words: [UInt32] = []
        words.reserveCapacity(4)
        var k = range.0
        while k < colon {
            var w: UInt32 = 0
            for j in k..<(k + 8) {
                guard let h = hex(line[j]) else { return nil }
                w = w << 4 | h
            }
            // Each word was printed from the host's (little-endian) memory order.
            words.append(w.byteSwapped)
            k += 8
        }
        if words.count == 1 { return (.v4(words[0]), UInt16(truncatingIfNeeded: port)) }
        var bytes = [UInt8](repeating: 0, count: 16)
        for (wi, w) in words.enumerated() {
            bytes[wi * 4] = UInt8(w >> 24)
            bytes[wi * 4 + 1] = UInt8(w >> 16 & 0xFF)
            bytes[wi * 4 + 2] = UInt8(w >> 8 & 0xFF)
            bytes[wi * 4 + 3] = UInt8(w & 0xFF)
        }
        return (bytes.withUnsafeBytes { IPAddress(v6Bytes: $0) }, UInt16(truncatingIfNeeded: port))
    }
}

/// Turns successive snapshots of the connection table into signals per remote address: new
/// inbound connections, concurrent connections, half-open (SYN_RECV) connections, and local ports
/// newly touched (scans). Pure: give it snapshots and times.
public struct ConnectionTracker: Sendable {
    struct Key: Hashable {
        var remote: IPAddress
        var remotePort: UInt16
        var localPort: UInt16
    }

    var previous: Set<Key> = []
    /// Local ports each remote touched, with when (seconds), forgotten after `portWindow`.
    var ports: [IPAddress: [UInt16: Double]] = [:]
    let portWindow: Double
    var first = true

    public init(portWindow: Double = 60) { self.portWindow = portWindow }

    /// The signals of one snapshot taken at `now` (seconds on any monotonic scale).
    public mutating func observe(_ entries: [TCPEntry], now: Double) -> [DefenseSignal] {
        let listening = Set(entries.lazy.filter { $0.state == .listen }.map(\.localPort))
        var current: Set<Key> = []
        struct Tally {
            var new = 0
            var concurrent = 0
            var halfOpen = 0
            var newPorts = 0
        }
        var tallies: [IPAddress: Tally] = [:]
        for e in entries where e.state != .listen && !e.remote.isUnspecified {
            // Inbound: to a port this node listens on, or still in the handshake.
            let inbound = listening.contains(e.localPort) || e.state == .synRecv || e.state == .newSynRecv
            guard inbound, !e.remote.isLoopback else { continue }
            let key = Key(remote: e.remote, remotePort: e.remotePort, localPort: e.localPort)
            current.insert(key)
            var t = tallies[e.remote] ?? Tally()
            if !previous.contains(key) { t.new += 1 }
            switch e.state {
            case .established: t.concurrent += 1
            case .synRecv, .newSynRecv:
                t.concurrent += 1
                t.halfOpen += 1
            default: break
            }
            var seen = ports[e.remote] ?? [:]
            if seen[e.localPort] == nil { t.newPorts += 1 }
            seen[e.localPort] = now
            ports[e.remote] = seen
            tallies[e.remote] = t
        }
        // Forget old port sightings.
        for (remote, seen) in ports {
            let kept = seen.filter { now - $0.value < portWindow }
            ports[remote] = kept.isEmpty ? nil : kept
        }
        previous = current
        defer { first = false }
        var signals: [DefenseSignal] = []
        for (remote, t) in tallies {
            // Connections already open when Warden started are not "new".
            if t.new > 0 && !first {
                signals.append(
                    .init(address: remote, name: "conn.new", value: Double(t.new), evidence: "\(t.new) new connections")
                )
            }
            if t.concurrent > 0 {
                signals.append(
                    .init(
                        address: remote,
                        name: "conn.concurrent",
                        value: Double(t.concurrent),
                        evidence: "\(t.concurrent) open connections"
                    )
                )
            }
            if t.halfOpen > 0 {
                signals.append(
                    .init(
                        address: remote,
                        name: "conn.half_open",
                        value: Double(t.halfOpen),
                        evidence: "\(t.halfOpen) half-open connections"
                    )
                )
            }
            if t.newPorts > 0 && !first {
                signals.append(
                    .init(
                        address: remote,
                        name: "conn.ports",
                        value: Double(t.newPorts),
                        evidence: "\(t.newPorts) more local ports touched"
                    )
                )
            }
        }
        return signals
    }
}
