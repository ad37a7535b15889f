import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import WardenCore

/// ``HTTPTransport`` over AsyncHTTPClient: HTTP/1.1 and HTTP/2, TLS with certificate verification
/// (the system's authorities, or those of a request's `caFile` instead), connection pooling and a
/// deadline per request.
///
/// Clients come from ``HTTPClients`` (one per set of trusted authorities, kept for the process).
public final class AsyncHTTPTransport: HTTPTransport {
    /// The process-wide transport.
    public static let shared = AsyncHTTPTransport()

    private init() {}

    public func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw OutboundError("not an http:// or https:// URL: \(request.url)")
        }
        let client = try HTTPClients.shared.client(
            caFile: request.caFile,
            connectionsPerHost: request.connectionsPerHost
        )
        var outbound = HTTPClientRequest(url: request.url)
        outbound.method = .init(rawValue: request.method)
        for (name, value) in request.headers { outbound.headers.add(name: name, value: value) }
        if !request.body.isEmpty {
            outbound.body = .bytes(ByteBuffer(bytes: request.body))
            outbound.headers.replaceOrAdd(name: "content-length", value: String(request.body.count))
        }
        let timeout = TimeAmount.nanoseconds(request.timeout.nanoseconds)
        do {
            let response = try await client.execute(outbound, timeout: timeout)
            let body = try await response.body.collect(upTo: request.maxResponse)
            return OutboundResponse(status: Int(response.status.code), body: Array(buffer: body))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw OutboundError("no answer within \(DurationFormat.format(request.timeout))")
        } catch let error as NIOSSLError {
            throw OutboundError("TLS failed: \(error)")
        } catch let error as NIOTooManyBytesError {
            _ = error
            throw OutboundError("the answer is larger than \(ByteSize.format(Int64(request.maxResponse)))")
        } catch {
            throw OutboundError("\(error)")
        }
    }
}
