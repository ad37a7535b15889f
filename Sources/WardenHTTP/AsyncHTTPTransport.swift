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
/// One client per set of trusted authorities, made on first use and kept for the life of the
/// process (so it is never shut down while a request may still use it).
public final class AsyncHTTPTransport: HTTPTransport {
    private let clients = Mutex<[String: AsyncHTTPClient.HTTPClient]>([:])

    /// The process-wide transport.
    public static let shared = AsyncHTTPTransport()

    private init() {}

    func client(caFile: String?) throws(OutboundError) -> AsyncHTTPClient.HTTPClient {
        guard let caFile else { return AsyncHTTPClient.HTTPClient.shared }
        if let existing = clients.withLock({ $0[caFile] }) { return existing }
        guard FileManager.default.isReadableFile(atPath: caFile) else {
            throw OutboundError("cannot read the CA file \(caFile)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caFile)
        var configuration = AsyncHTTPClient.HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.redirectConfiguration = .disallow
        return clients.withLock { clients in
            if let existing = clients[caFile] { return existing }
            let made = AsyncHTTPClient.HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[caFile] = made
            return made
        }
    }

    public func send(_ request: OutboundRequest) async throws(OutboundError) -> OutboundResponse {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw OutboundError("not an http:// or https:// URL: \(request.url)")
        }
        let client = try client(caFile: request.caFile)
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
