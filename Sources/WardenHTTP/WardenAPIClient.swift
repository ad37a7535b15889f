import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import WardenCore

/// A client of a Warden's own API (the CLI, the simulator, tests), over AsyncHTTPClient: JSON
/// requests with a bearer token, and the live event stream.
public struct WardenAPIClient: Sendable {
    /// `http://HOST:PORT` or `https://HOST:PORT` (an IPv6 host in brackets).
    public let base: String
    public let token: String?
    public let timeout: Duration
    /// Over TLS: the PEM file of what is trusted (and nothing else).
    public let trust: String?

    /// `trust`: HTTPS, trusting only the certificates in that PEM file (the API's own certificate
    /// or its authority, `api.tls`); the name in the certificate is not checked against `host`,
    /// which is where the spec says the API listens.
    public init(host: String, port: Int, token: String?, timeout: Duration = .seconds(10), trust: String? = nil) {
        base = (trust == nil ? "http://" : "https://") + (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        self.token = token
        self.timeout = timeout
        self.trust = trust
    }

    /// The client for this API: the shared one for plain HTTP, one per trust file for HTTPS.
    func client() throws(OutboundError) -> HTTPClient {
        try HTTPClients.shared.client(caFile: trust, checkName: trust == nil)
    }

    /// An answer.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        /// The `error.message` of a JSON error body, or the body as text.
        public var errorMessage: String {
            if let message = JSONValue.parse(String(decoding: body, as: UTF8.self))?["error"]?["message"]?.stringValue {
                return message
            }
            return String(decoding: body, as: UTF8.self)
        }
    }

    func request(_ method: String, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        return request
    }

    /// Sends one request and reads the whole answer (at most 64 MiB).
    public func send(
        _ method: String,
        _ path: String,
        body: Data? = nil,
        contentType: String = "application/json"
    ) async throws(OutboundError) -> Response {
        var request = request(method, path)
        if let body {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client().execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            var headers: [String: String] = [:]
            for h in response.headers { headers[h.name.lowercased()] = h.value }
            return Response(status: Int(response.status.code), headers: headers, body: Data(bytes.readableBytesView))
        } catch {
            throw Self.failure(error, base: base)
        }
    }

    /// ``send(_:_:body:contentType:)`` for code on a thread of its own (never on the cooperative
    /// pool): waits for the answer.
    public func sendWaiting(_ method: String, _ path: String, body: Data? = nil) throws(OutboundError) -> Response {
        let result = Mutex<Result<Response, OutboundError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let client = self
        Task {
            do throws(OutboundError) {
                let response = try await client.send(method, path, body: body)
                result.withLock { $0 = .success(response) }
            } catch {
                result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Follows a server-sent event stream from `path` (resuming after `lastEventID`): calls
    /// `onEvent` with each event's id and data until it returns false or the stream ends. Returns
    /// the HTTP status (200 when the stream was followed).
    public func stream(
        _ path: String,
        lastEventID: Int64? = nil,
        onEvent: (Int64?, String) async -> Bool
    ) async throws(OutboundError) -> Int {
        var request = request("GET", path)
        request.headers.add(name: "accept", value: "text/event-stream")
        if let lastEventID { request.headers.add(name: "last-event-id", value: String(lastEventID)) }
        do {
            let response = try await client().execute(request, timeout: .hours(24 * 365))
            guard response.status == .ok else { return Int(response.status.code) }
            var parser = SSEParser()
            for try await buffer in response.body {
                for event in parser.feed(Array(buffer: buffer)) {
                    if await !onEvent(event.id, event.data) { return 200 }
                }
            }
            return 200
        } catch {
            throw Self.failure(error, base: base)
        }
    }

    static func failure(_ error: any Error, base: String) -> OutboundError {
        if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout {
            return OutboundError("\(base) did not answer in time")
        }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") {
            return OutboundError("nothing answers at \(base); is Warden running?")
        }
        return OutboundError("\(base): \(text)")
    }
}

/// Splits a server-sent event stream into events (`id:` and `data:` lines, an empty line ends
/// each); other fields and comments are skipped.
struct SSEParser {
    private var pending: [UInt8] = []
    private var id: Int64?
    private var data: [String] = []

    mutating func feed(_ bytes: [UInt8]) -> [(id: Int64?, data: String)] {
        pending += bytes
        var events: [(id: Int64?, data: String)] = []
        while let newline = pending.firstIndex(of: 10) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeSubrange(...newline)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { events.append((id, data.joined(separator: "\n"))) }
                id = nil
                data = []
            } else if line.hasPrefix("data:") {
                data.append(String(line.dropFirst(5)).trimmingCharacters(in: .init(charactersIn: " ")))
            } else if line.hasPrefix("id:") {
                id = Int64(line.dropFirst(3).trimmingCharacters(in: .whitespaces))
            }
        }
        return events
    }
}
