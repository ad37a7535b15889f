import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Synchronization
import WardenCore

/// ``BlockingHTTP`` over AsyncHTTPClient: the caller's thread waits on the answer while the
/// exchange runs on the client's own event loops (never on Swift's cooperative pool). Certificates
/// are verified (against a CA file, else the system's authorities); redirects are not followed,
/// so a credential in a header never travels to another host.
public final class BlockingHTTPClient: BlockingHTTP {
    public static let shared = BlockingHTTPClient()

    private init() {}

    public func exchange(
        method: String,
        url: String,
        headers: [(String, String)],
        body: [UInt8],
        caFile: String?,
        timeout: Duration
    ) -> Result<(status: Int, body: [UInt8]), OutboundError> {
        do {
            var request = try HTTPClient.Request(url: url, method: .init(rawValue: method))
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if !body.isEmpty { request.body = .bytes(body) }
            let deadline = NIODeadline.now() + .nanoseconds(timeout.nanoseconds)
            let response = try HTTPClients.shared.client(caFile: caFile).execute(request: request, deadline: deadline)
                .wait()
            var buffer = response.body ?? ByteBuffer()
            guard buffer.readableBytes <= 1 << 20 else {
                return .failure(OutboundError("the answer from \(url) is larger than 1 MiB"))
            }
            return .success((Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? []))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(OutboundError("no answer within \(DurationFormat.format(timeout))"))
        } catch let error as OutboundError {
            return .failure(error)
        } catch let error as NIOSSLError {
            return .failure(OutboundError("TLS failed: \(error)"))
        } catch {
            return .failure(OutboundError("\(error)"))
        }
    }
}
