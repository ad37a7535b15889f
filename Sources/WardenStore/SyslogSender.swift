import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Sends RFC 5424 syslog messages to one receiver, over UDP (one datagram a message, RFC 5426)
/// or TCP (octet counting, RFC 6587). Blocking: call it from ``blockingWork(_:)``, one caller at
/// a time. A TCP connection is kept and made again after an error.
final class SyslogSender: @unchecked Sendable {
    let target: SyslogTarget
    private var fd: Int32 = -1

    /// Messages are cut to this many bytes (what rsyslog accepts by default); the record's number
    /// and hashes are in the structured data, which comes first, so a cut message can still be
    /// checked against the chain.
    static let maxMessage = 8_192

    init(target: SyslogTarget) { self.target = target }

    deinit { if fd >= 0 { close(fd) } }

    /// One message for a link of the audit chain: facility authpriv, severity warning for a
    /// refused request and notice otherwise.
    static func message(for link: AuditLink, hostname: String, pid: Int32) -> [UInt8] {
        let refused = JSONValue.parse(link.payload)?["result"]?.stringValue == "refused"
        let pri = 10 * 8 + (refused ? 4 : 5)
        let time = ISOTime.format(StoreValues.date(link.timeMicros))
        var msgid = String(link.type.unicodeScalars.map { (33...126).contains($0.value) ? Character($0) : "_" })
        if msgid.isEmpty { msgid = "-" }
        msgid = String(msgid.prefix(32))
        func param(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "]", with: "\\]")
        }
        let sd =
            "[warden@32473 seq=\"\(link.seq)\" event=\"\(link.eventID)\" hash=\"\(AuditLink.hex(link.hash))\""
            + " previous=\"\(AuditLink.hex(link.previous))\" subject=\"\(param(String(link.subject.prefix(256))))\"]"
        let head = "<\(pri)>1 \(time) \(hostname) warden \(pid) \(msgid) \(sd) "
        var bytes = Array(head.utf8) + [0xEF, 0xBB, 0xBF] + Array(link.json.jsonText.utf8)
        if bytes.count > maxMessage { bytes.removeLast(bytes.count - maxMessage) }
        return bytes
    }

    /// This host's name as syslog wants it: printable ASCII, at most 255 bytes, `-` when unknown.
    static var hostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, 255) == 0 else { return "-" }
        let name = String(
            decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }.filter { (33...126).contains($0) },
            as: UTF8.self
        )
        return name.isEmpty ? "-" : name
    }

    /// Sends every message, in order; throws at the first that cannot be sent (a TCP connection
    /// is then closed, to be made again by the next call).
    func send(_ messages: [[UInt8]]) throws(WardenError) {
        if fd < 0 { try connect() }
        for m in messages {
            var frame = m
            if target.transport == .tcp { frame = Array("\(m.count) ".utf8) + m }
            let fd = self.fd
            // A datagram is one message, whole or not at all.
            if let failed = WriteAll.write(
                frame,
                once: target.transport == .udp,
                { Glibc.send(fd, $0, $1, Int32(MSG_NOSIGNAL)) }
            ) {
                close(fd)
                self.fd = -1
                throw WardenError(.io, "cannot send to syslog at \(target): \(String(cString: strerror(failed)))")
            }
        }
    }

    private func connect() throws(WardenError) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(target.transport == .udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(target.host, String(target.port), &hints, &list)
        guard rc == 0, let first = list else {
            throw WardenError(
                .io,
                "cannot resolve the syslog host \(target.host): \(String(cString: gai_strerror(rc)))"
            )
        }
        defer { freeaddrinfo(list) }
        var problem = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            entry = a.pointee.ai_next
            let s = socket(
                a.pointee.ai_family,
                a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                a.pointee.ai_protocol
            )
            guard s >= 0 else { continue }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if target.transport == .tcp {
                // Connect within the timeout, not the kernel's minutes.
                let flags = fcntl(s, F_GETFL)
                _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
                var r = Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen)
                if r < 0 && errno == EINPROGRESS {
                    var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                    if poll(&p, 1, 5_000) == 1 {
                        var err: Int32 = 0
                        var len = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                        r = err == 0 ? 0 : -1
                        errno = err
                    } else {
                        errno = ETIMEDOUT
                    }
                }
                _ = fcntl(s, F_SETFL, flags)
                if r == 0 {
                    fd = s
                    return
                }
            } else if Glibc.connect(s, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                fd = s
                return
            }
            problem = String(cString: strerror(errno))
            close(s)
        }
        throw WardenError(.io, "cannot connect to syslog at \(target): \(problem)")
    }
}
