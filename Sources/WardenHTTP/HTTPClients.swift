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
    }

    static let shared = HTTPClients()
    private let clients = Mutex<[Key: HTTPClient]>([:])

    /// The client trusting `caFile` (the system's authorities when nil). `checkName: false`
    /// accepts a certificate of that authority made out to another name (Warden's CLI calling
    /// its own API, whose certificate need not name the listen address).
    func client(caFile: String?, checkName: Bool = true) throws(OutboundError) -> HTTPClient {
        let key = Key(caFile: caFile, checkName: checkName)
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
        // Callers bound their own concurrency (a model endpoint's `concurrency`, the workers);
        // the client's default of 8 connections a host queued model calls behind each other.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            let made = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = made
            return made
        }
    }
}
