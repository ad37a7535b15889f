import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The API's certificate and key, read again when either file changes on disk.
///
/// Nothing polls: a new connection asks for the context, and the files are looked at (two
/// `stat`s) at most once a second then. A renewed certificate serves the connections made after
/// it is written; open connections keep the one they started with, so none is dropped. A pair
/// that cannot be used (a key that does not match, a file half written) is refused and the
/// previous pair goes on serving, with an error in the log until the files are fixed.
public final class TLSCertificates: Sendable {
    public let certPath: String
    public let keyPath: String
    let logger: Logger

    private struct State {
        var context: NIOSSLContext
        var files: [FileStamp]
        var checked: ContinuousClock.Instant
        /// The stamps of a pair that was refused (not reported again until they change).
        var refused: [FileStamp]?
    }

    /// What says a file changed: inode, size and modification time.
    struct FileStamp: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: Int64

        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        }
    }

    private let state: Mutex<State>
    /// How often the files are looked at, at most.
    static let checkEvery = Duration.seconds(1)

    /// Reads the pair; throws with what is wrong when it cannot serve.
    public init(cert: String, key: String, logger: Logger) throws(WardenError) {
        certPath = cert
        keyPath = key
        self.logger = logger
        let files = [FileStamp(cert), FileStamp(key)].compactMap { $0 }
        state = Mutex(State(context: try Self.context(cert: cert, key: key), files: files, checked: .now))
    }

    /// The most a certificate chain or key file may hold.
    public static let maxFileSize = 1 << 20

    /// A server context for `cert` and `key`, or what is wrong with them. Each file is read up to
    /// ``maxFileSize`` bytes (a path to `/dev/zero` or a FIFO costs that, not a hang).
    public static func context(cert: String, key: String) throws(WardenError) -> NIOSSLContext {
        func bytes(_ path: String, _ what: String) throws(WardenError) -> [UInt8] {
            switch BoundedFile.read(path, limit: maxFileSize) {
            case .whole(let b)?: return b
            case .truncated?: throw WardenError(.invalidSpec, "\(path) is larger than 1 MiB; it cannot be \(what)")
            case nil: throw WardenError(.invalidSpec, "cannot read \(path)")
            }
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try bytes(cert, "a PEM certificate chain"))
        } catch let error as WardenError {
            throw error
        } catch {
            throw WardenError(.invalidSpec, "cannot read a PEM certificate from \(cert): \(error)")
        }
        guard !chain.isEmpty else { throw WardenError(.invalidSpec, "no PEM certificate in \(cert)") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(bytes: try bytes(key, "a PEM private key"), format: .pem)
        } catch let error as WardenError {
            throw error
        } catch {
            throw WardenError(.invalidSpec, "cannot read a PEM private key from \(key): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw WardenError(.invalidSpec, "the key in \(key) does not go with the certificate in \(cert): \(error)")
        }
    }

    /// The context a new connection uses (read again first if the files changed).
    public func current() -> NIOSSLContext {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            guard now - s.checked >= Self.checkEvery else { return false }
            s.checked = now
            return true
        }
        if due { reloadIfChanged() }
        return state.withLock { $0.context }
    }

    /// Reads the pair again when a file changed; returns true when the new pair now serves.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let files = [FileStamp(certPath), FileStamp(keyPath)].compactMap { $0 }
        let (changed, refusedBefore) = state.withLock { ($0.files != files, $0.refused == files) }
        guard changed, !refusedBefore else { return false }
        do {
            let context = try Self.context(cert: certPath, key: keyPath)
            state.withLock {
                $0.context = context
                $0.files = files
                $0.refused = nil
            }
            logger.notice("the API's TLS certificate was read again", metadata: ["warden.cert": "\(certPath)"])
            return true
        } catch {
            state.withLock { $0.refused = files }
            logger.error(
                "the API's new TLS certificate cannot be used; the previous one still serves",
                metadata: ["warden.error": "\(error.message)"]
            )
            return false
        }
    }
}

/// A connection's TLS in front of the base channel (HTTP/1.1), with the context
/// ``TLSCertificates`` holds when the connection is accepted.
public struct ReloadingTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value
    let base: Base
    let certificates: TLSCertificates

    public init(_ base: Base, certificates: TLSCertificates) {
        self.base = base
        self.certificates = certificates
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: certificates.current()))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ReloadingTLSChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    public var responder: HTTPChannelHandler.Responder { base.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with `configuration`, over TLS with the pair `certificates` holds when given.
    public static func http1(
        configuration: HTTP1Channel.Configuration,
        tls certificates: TLSCertificates?
    ) -> HTTPServerBuilder {
        guard let certificates else { return .http1(configuration: configuration) }
        return HTTPServerBuilder { responder in
            ReloadingTLSChannel(
                HTTP1Channel(responder: responder, configuration: configuration),
                certificates: certificates
            )
        }
    }
}
