import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A Hummingbird application that sleeps while nobody asks: Hummingbird's own `Application`
/// keeps its `Date` header fresh with a task that wakes every second, 86,400 wake-ups a day
/// for an agent that mostly waits. This one formats the header when a response needs it (at most
/// once per second, ``HTTPDateHeader``) and otherwise serves the same way: a request-id logger per
/// request, a 500 for an error the responder did not turn into a response, the `Server` header
/// from the configuration, and the application's services run beside the server.
public struct QuietApplication<Responder: HTTPResponder>: ApplicationProtocol
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    public let responder: Responder
    public let server: HTTPServerBuilder
    public let configuration: ApplicationConfiguration
    public let logger: Logger
    public let services: [any Service]
    let running: @Sendable (any Channel) async -> Void

    /// `onServerRunning` is called with the listening channel once the server accepts
    /// connections (its `localAddress` says which port a port 0 got).
    public init(
        responder: Responder,
        server: HTTPServerBuilder = .http1(),
        configuration: ApplicationConfiguration,
        services: [any Service] = [],
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) {
        self.responder = responder
        self.server = server
        self.configuration = configuration
        self.services = services
        self.logger = logger
        self.running = onServerRunning
    }

    public func onServerRunning(_ channel: any Channel) async { await running(channel) }

    /// A response abandoned because the request turned out malformed while it was written: the
    /// connection is closed (a second response must not follow the first).
    struct ResponseAbandoned: Error {}

    public func run() async throws {
        let responder = self.responder
        let logger = self.logger
        let serverName = configuration.serverName
        let dates = HTTPDateHeader()
        let server = try server.buildServer(
            configuration: ServerConfiguration(
                address: configuration.address,
                serverName: configuration.serverName,
                backlog: configuration.backlog,
                reuseAddress: configuration.reuseAddress,
                availableConnectionsDelegate: configuration.availableConnectionsDelegate
            ),
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            responder: { (request, writer: consuming ResponseWriter, channel) in
                var requestLogger = logger
                requestLogger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
                let context = Responder.Context(source: .init(channel: channel, logger: requestLogger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as HTTPParserError {
                    throw error
                } catch {
                    requestLogger.debug("unhandled error", metadata: ["error.type": "\(error)"])
                    response = Response(status: .internalServerError)
                }
                response.headers[.date] = dates.value()
                if let serverName { response.headers[.server] = serverName }
                do {
                    try await writer.write(response: response.head, body: response.body)
                } catch is HTTPParserError {
                    throw ResponseAbandoned()
                }
            },
            onServerRunning: running
        )
        let group = ServiceGroup(configuration: .init(services: services + [server], logger: logger))
        try await group.run()
    }
}

/// The `Date` header's value (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), formatted
/// again only when the second has changed since the last call. Thread-safe.
public final class HTTPDateHeader: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((Int.min, ""))

    public init() {}

    /// The header for the current second.
    public func value() -> String {
        value(at: time(nil))
    }

    /// The header for `second` (Unix time).
    public func value(at second: Int) -> String {
        cached.withLock { c in
            if c.second != second { c = (second, Self.format(second)) }
            return c.text
        }
    }

    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate of `second` (Unix time, UTC).
    public static func format(_ second: Int) -> String {
        var t = time_t(second)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
