/// Sends outbound HTTP(S) requests: notifications, questions to the analyst, and whatever calls
/// out later (web hooks, workflow steps). The implementation (AsyncHTTPClient, verifying
/// certificates) is injected at the composition root, so that the libraries need no HTTP stack.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and reads the whole answer (at most `request.maxResponse` bytes).
    ///
    /// - Throws: ``OutboundError`` when no answer came: a refused or failed connection, a
    ///   certificate that does not verify, a timeout, or an answer larger than allowed.
    func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse
}

/// One outbound request.
public struct OutboundRequest: Sendable {
    /// `http://…` or `https://…`.
    public var url: String
    public var method = "POST"
    public var headers: [(name: String, value: String)] = []
    public var body: [UInt8] = []
    /// For the whole exchange.
    public var timeout = Duration.seconds(10)
    /// A PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    /// Answers larger than this are refused.
    public var maxResponse = 1 << 20
    /// Connections to the request's host at once, for callers that bound their own concurrency
    /// (a model endpoint's `concurrency`); more requests wait for one.
    public var connectionsPerHost = 8

    /// A POST of `url` with no body yet; set what else it needs.
    public init(url: String) { self.url = url }

    /// A POST of `json` (as `application/json`) with a timeout and, optionally, CA file.
    public static func postJSON(_ json: JSONValue, to url: String, timeout: Duration, caFile: String?) -> Self {
        var request = Self(url: url)
        request.headers = [("content-type", "application/json")]
        request.body = Array(json.jsonText.utf8)
        (request.timeout, request.caFile) = (timeout, caFile)
        return request
    }
}

/// An answer.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Why an outbound request got no answer; the message says what to check.
public struct OutboundError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The URLs Warden calls out to: `http://` or `https://`, a host, an optional port, a path.
public enum OutboundURL {
    /// Why `text` is not such a URL, or nil when it is.
    public static func problem(_ text: String) -> String? {
        guard text.utf8.count <= 2048 else { return "longer than 2048 bytes" }
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            return "it contains spaces or control characters"
        }
        let rest: Substring
        if text.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if text.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            return "it must start with http:// or https://"
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.contains("@") else { return "credentials in the URL are not allowed; use a token" }
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return "an IPv6 host needs its closing ]" }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let port = Int(after.dropFirst()), (1...65535).contains(port) else {
                    return "the port must be a number from 1 to 65535"
                }
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let port = Int(host[host.index(after: colon)...]), (1...65535).contains(port) else {
                return "the port must be a number from 1 to 65535"
            }
            host = host[..<colon]
        }
        guard !host.isEmpty else { return "it has no host" }
        return nil
    }
}
