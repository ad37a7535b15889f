import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization
import WardenCore

/// AsyncHTTPClient clients for Warden's outbound calls, one per set of trusted authorities (and
/// name checking), made on first use and kept for the life of the process, so that none is shut
/// down while a request may still use it.
///
/// Every client verifies certificates (against the CA file when one is given, else the system's
/// authorities) and follows no redirect, so a credential in a header never travels to another
/// host.
final class HTTPClients: Sendable {
    struct Key: Hashable {
        var caFile: String?
        var checkName: Bool
        var connectionsPerHost: Int
    }

    static let shared = HTTPClients()
    private let clients = Mutex<[Key: HTTPClient]>([:])

    /// The client trusting `caFile` (the system's authorities when nil). `checkName: false`
    /// accepts a certificate of that authority made out to another name (Warden's CLI calling
    /// its own API, whose certificate need not name the listen address).
    /// `connectionsPerHost`: how many connections to one host at once (AsyncHTTPClient's
    /// default, 8, unless a caller bounds its own concurrency higher, as model endpoints do).
    func client(
        caFile: String?,
        checkName: Bool = true,
        connectionsPerHost: Int = 8
    ) throws(OutboundError)
        -> HTTPClient
    {
        let key = Key(caFile: caFile, checkName: checkName, connectionsPerHost: max(1, min(connectionsPerHost, 1024)))
        if let existing = clients.withLock({ $0[key] }) { return existing }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw OutboundError("cannot read the CA file \(caFile)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        if !checkName { tls.certificateVerification = .noHostnameVerification }
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.redirectConfiguration = .disallow
        // A model endpoint allows `concurrency` calls at once: the client's default of 8
        // connections a host queued them behind each other (and into their timeouts).
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: key.connectionsPerHost
        )
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = made
            return made
        }
    }
}
