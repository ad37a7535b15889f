import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Sends one mail to an SMTP server (RFC 5321: EHLO or HELO, MAIL FROM, RCPT TO, DATA, QUIT), in
/// plain text and without authentication: for a local relay (Postfix, OpenSMTPD, a smarthost's
/// local submission port). Every read and write is bounded by `timeout`; answers are read up to
/// 64 KiB. Blocking: run it off the cooperative pool (``blockingWork(_:)``).
public struct SMTPClient: Sendable {
    public var host: String
    public var port: UInt16
    public var timeout: Duration
    public var heloName: String

    public init(host: String, port: UInt16, timeout: Duration, heloName: String = "warden") {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.heloName = heloName
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// Sends `message` (headers and body, CRLF line ends, not dot-stuffed).
    public func send(from: String, to: [String], message: String) throws(Failure) {
        let fd = try connect()
        defer { close(fd) }
        var reader = Reader(fd: fd, timeout: timeout)
        try expect(&reader, 220, "greeting")
        try command(fd, "EHLO \(heloName)")
        if (try? reader.reply())?.code != 250 {
            try command(fd, "HELO \(heloName)")
            try expect(&reader, 250, "HELO")
        }
        try command(fd, "MAIL FROM:<\(from)>")
        try expect(&reader, 250, "MAIL FROM")
        for address in to {
            try command(fd, "RCPT TO:<\(address)>")
            let reply = try reader.reply()
            guard reply.code == 250 || reply.code == 251 else {
                throw Failure(message: "RCPT TO \(address): \(reply.code) \(reply.text)")
            }
        }
        try command(fd, "DATA")
        try expect(&reader, 354, "DATA")
        // Dot-stuffing: a line starting with "." gets another (RFC 5321 §4.5.2).
        var data = message.split(separator: "\r\n", omittingEmptySubsequences: false).map {
            $0.hasPrefix(".") ? "." + $0 : String($0)
        }.joined(separator: "\r\n")
        if !data.hasSuffix("\r\n") { data += "\r\n" }
        try write(fd, data + ".\r\n")
        try expect(&reader, 250, "end of DATA")
        try? command(fd, "QUIT")
    }

    private func expect(_ reader: inout Reader, _ code: Int, _ what: String) throws(Failure) {
        let reply = try reader.reply()
        guard reply.code == code else { throw Failure(message: "\(what): \(reply.code) \(reply.text)") }
    }

    private func command(_ fd: Int32, _ line: String) throws(Failure) { try write(fd, line + "\r\n") }

    private func write(_ fd: Int32, _ text: String) throws(Failure) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&p, 1, Int32(timeout.milliseconds)) == 1 else {
                throw Failure(message: "timed out writing to \(host):\(port)")
            }
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Failure(message: "writing to \(host):\(port): \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    private func connect() throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw Failure(message: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            let fd = socket(
                ai.pointee.ai_family,
                Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                0
            )
            guard fd >= 0 else { continue }
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
            if errno == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var soError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                if poll(&p, 1, Int32(timeout.milliseconds)) == 1,
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length) == 0, soError == 0
                {
                    return fd
                }
                lastError = soError != 0 ? String(cString: strerror(soError)) : "timed out"
            } else {
                lastError = String(cString: strerror(errno))
            }
            close(fd)
        }
        throw Failure(message: "cannot connect to \(host):\(port): \(lastError)")
    }

    /// Reads replies: `250-first\r\n250 last\r\n` is one reply of code 250.
    struct Reader {
        let fd: Int32
        let timeout: Duration
        var buffer: [UInt8] = []

        mutating func line() throws(Failure) -> String {
            while true {
                if let nl = buffer.firstIndex(of: 10) {
                    let line = String(decoding: buffer[..<nl], as: UTF8.self)
                    buffer.removeFirst(nl + 1)
                    return line.hasSuffix("\r") ? String(line.dropLast()) : line
                }
                guard buffer.count < 65536 else { throw Failure(message: "an answer line longer than 64 KiB") }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, Int32(timeout.milliseconds)) == 1 else {
                    throw Failure(message: "timed out waiting for the server's answer")
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0, errno == EINTR || errno == EAGAIN { continue }
                guard n > 0 else { throw Failure(message: "the server closed the connection") }
                buffer += chunk[0..<n]
            }
        }

        mutating func reply() throws(Failure) -> (code: Int, text: String) {
            var text: [String] = []
            for _ in 0..<100 {
                let l = try line()
                guard l.count >= 3, let code = Int(l.prefix(3)) else {
                    throw Failure(message: "not an SMTP answer: \(l.prefix(80))")
                }
                text.append(String(l.dropFirst(4)))
                if l.count == 3 || l[l.index(l.startIndex, offsetBy: 3)] == " " {
                    return (code, String(text.joined(separator: " ").prefix(512)))
                }
            }
            throw Failure(message: "an answer of more than 100 lines")
        }
    }
}
