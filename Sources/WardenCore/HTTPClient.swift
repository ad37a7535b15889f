import CWardenSys
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client (the CLI, notifications, tests): enough for Warden's own API (JSON requests,
/// Content-Length or chunked answers, and server-sent event streams), with timeouts, and without
/// pulling a full HTTP stack into the binary.
public struct HTTPClient: Sendable {
    public let host: String
    public let port: Int
    public let token: String?
    public let timeout: Duration

    public init(host: String, port: Int, token: String?, timeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
    }

    /// An answer.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        /// The `error.message` of a JSON error body, or the body as text.
        public var errorMessage: String {
            if case .object(let o)? = JSONValue.parse(String(decoding: body, as: UTF8.self)),
                let message = o["error"]?["message"]?.stringValue
            {
                return message
            }
            return String(decoding: body, as: UTF8.self)
        }
    }

    /// Why a request failed before an answer arrived.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        /// The connection was refused: nothing listens there.
        public var refused: Bool
        public var description: String { message }
    }

    /// Sends one request and reads the whole answer.
    public func send(
        _ method: String,
        _ path: String,
        body: Data? = nil,
        contentType: String = "application/json"
    ) throws(Failure) -> Response {
        let connection = try Connection(host: host, port: port, timeout: timeout)
        defer { connection.close() }
        try connection.write(
            requestHead(method, path, bodyLength: body?.count, contentType: contentType, extra: [:]) + (body ?? Data())
        )
        let (status, headers) = try connection.readHead()
        let bodyData: Data
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            var all = Data()
            while let chunk = try connection.readChunk() { all.append(chunk) }
            bodyData = all
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            bodyData = try connection.read(exactly: length)
        } else {
            bodyData = try connection.readToEnd()
        }
        return Response(status: status, headers: headers, body: bodyData)
    }

    /// Opens a server-sent event stream and calls `onEvent(id, data)` for each event until the
    /// stream ends or `onEvent` returns false. Returns the answer's status when it is not 200.
    public func stream(
        _ path: String,
        lastEventID: Int64? = nil,
        onEvent: (Int64?, String) -> Bool
    ) throws(Failure) -> Int {
        let connection = try Connection(host: host, port: port, timeout: .seconds(3600))
        defer { connection.close() }
        var extra = ["Accept": "text/event-stream"]
        if let lastEventID { extra["Last-Event-ID"] = String(lastEventID) }
        try connection.write(requestHead("GET", path, bodyLength: nil, contentType: nil, extra: extra))
        let (status, headers) = try connection.readHead()
        guard status == 200 else { return status }
        let chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") == true
        var pending = ""
        var id: Int64?
        var data: [String] = []
        while true {
            let piece: Data?
            if chunked { piece = try connection.readChunk() } else { piece = try connection.readSome() }
            guard let piece else { return 200 }
            pending += String(decoding: piece, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                if line.isEmpty {
                    if !data.isEmpty {
                        if !onEvent(id, data.joined(separator: "\n")) { return 200 }
                    }
                    id = nil
                    data = []
                } else if line.hasPrefix("data:") {
                    data.append(String(line.dropFirst(5)).trimmingCharacters(in: .init(charactersIn: " ")))
                } else if line.hasPrefix("id:") {
                    id = Int64(line.dropFirst(3).trimmingCharacters(in: .whitespaces))
                }
            }
        }
    }

    private func requestHead(
        _ method: String,
        _ path: String,
        bodyLength: Int?,
        contentType: String?,
        extra: [String: String]
    ) -> Data {
        var head =
            "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: warden-cli\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let bodyLength {
            head += "Content-Length: \(bodyLength)\r\n"
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
        }
        for (k, v) in extra { head += "\(k): \(v)\r\n" }
        return Data((head + "\r\n").utf8)
    }
}

/// One TCP connection with a deadline per operation.
private final class Connection {
    let fd: Int32
    let timeout: Duration
    var buffer = [UInt8]()

    init(host: String, port: Int, timeout: Duration) throws(HTTPClient.Failure) {
        self.timeout = timeout
        var inProgress: Int32 = 0
        var err: Int32 = 0
        let fd = warden_tcp_connect(host, String(port), &inProgress, &err)
        if fd == -2 { throw HTTPClient.Failure(message: "cannot resolve \(host)", refused: false) }
        if fd < 0 {
            throw HTTPClient.Failure(
                message: "cannot connect to \(host):\(port): \(String(cString: strerror(err)))",
                refused: err == ECONNREFUSED
            )
        }
        self.fd = fd
        if inProgress != 0 {
            guard Self.wait(fd, events: Int16(POLLOUT), timeout: timeout) else {
                Glibc.close(fd)
                throw HTTPClient.Failure(message: "timed out connecting to \(host):\(port)", refused: false)
            }
            let so = warden_socket_error(fd)
            if so != 0 {
                Glibc.close(fd)
                throw HTTPClient.Failure(
                    message: "cannot connect to \(host):\(port): \(String(cString: strerror(so)))",
                    refused: so == ECONNREFUSED
                )
            }
        }
    }

    func close() { Glibc.close(fd) }

    static func wait(_ fd: Int32, events: Int16, timeout: Duration) -> Bool {
        var p = pollfd(fd: fd, events: events, revents: 0)
        let ms = Int32(clamping: timeout.milliseconds)
        while true {
            let n = poll(&p, 1, ms)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }

    func write(_ data: Data) throws(HTTPClient.Failure) {
        var sent = 0
        let bytes = [UInt8](data)
        while sent < bytes.count {
            guard Self.wait(fd, events: Int16(POLLOUT), timeout: timeout) else {
                throw HTTPClient.Failure(message: "timed out sending", refused: false)
            }
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 {
                throw HTTPClient.Failure(
                    message: "connection lost while sending: \(String(cString: strerror(errno)))",
                    refused: false
                )
            }
            sent += n
        }
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    func fill() throws(HTTPClient.Failure) -> Bool {
        guard Self.wait(fd, events: Int16(POLLIN), timeout: timeout) else {
            throw HTTPClient.Failure(message: "timed out waiting for the answer", refused: false)
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard Self.wait(fd, events: Int16(POLLIN), timeout: timeout) else {
                    throw HTTPClient.Failure(message: "timed out", refused: false)
                }
                continue
            }
            if n < 0 {
                throw HTTPClient.Failure(
                    message: "connection lost: \(String(cString: strerror(errno)))",
                    refused: false
                )
            }
            if n == 0 { return false }
            buffer.append(contentsOf: chunk[..<n])
            return true
        }
    }

    func readLine() throws(HTTPClient.Failure) -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if try !fill() { return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self) }
        }
    }

    func readHead() throws(HTTPClient.Failure) -> (Int, [String: String]) {
        guard let statusLine = try readLine() else {
            throw HTTPClient.Failure(message: "the server closed the connection without answering", refused: false)
        }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw HTTPClient.Failure(message: "not an HTTP answer: \(statusLine.prefix(60))", refused: false)
        }
        var headers: [String: String] = [:]
        while let line = try readLine(), !line.isEmpty {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces
                )
            }
        }
        return (status, headers)
    }

    func read(exactly count: Int) throws(HTTPClient.Failure) -> Data {
        while buffer.count < count {
            if try !fill() { break }
        }
        let n = min(count, buffer.count)
        let data = Data(buffer[..<n])
        buffer.removeFirst(n)
        return data
    }

    func readToEnd() throws(HTTPClient.Failure) -> Data {
        while try fill() {}
        defer { buffer = [] }
        return Data(buffer)
    }

    /// Whatever arrives next; nil at the end.
    func readSome() throws(HTTPClient.Failure) -> Data? {
        if buffer.isEmpty, try !fill() { return nil }
        defer { buffer = [] }
        return Data(buffer)
    }

    /// One chunk of a chunked body; nil after the last.
    func readChunk() throws(HTTPClient.Failure) -> Data? {
        guard let sizeLine = try readLine() else { return nil }
        guard let size = Int(sizeLine.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
            throw HTTPClient.Failure(message: "bad chunk size '\(sizeLine.prefix(20))'", refused: false)
        }
        if size == 0 {
            _ = try readLine()
            return nil
        }
        let data = try read(exactly: size)
        _ = try readLine()
        return data
    }
}
