import Foundation
import Logging
import PostgresNIO
import Synchronization
import WardenCore

/// A PostgreSQL database served by a primary and its standbys: work goes to the writable host;
/// when it fails (the primary died, or became a standby), the hosts are searched again until one
/// is writable (a standby promoted in its place) and the work is tried there once more.
///
/// Only work that may run twice belongs here: the control plane's writes are idempotent (events
/// keyed by node and id), so a write whose answer was lost with the primary is simply repeated.
/// Nothing is acknowledged before the database has committed it; with synchronous replication
/// (`synchronous_standby_names`) a commit is also on a standby, so a promoted standby has every
/// acknowledged record.
public actor FailoverStore {
    public let url: PostgresURL
    let password: String?
    public let node: String
    let logger: Logger
    /// How long to look for a writable host before giving up on a piece of work.
    let searchFor: Duration
    /// How long one piece of work may take before the host is taken for dead.
    let workTimeout: Duration
    private var current: (store: PostgresStore, host: PostgresURL.Host, generation: Int)?
    private var generation = 0

    public init(
        url: PostgresURL,
        password: String?,
        node: String,
        searchFor: Duration = .seconds(60),
        workTimeout: Duration = .seconds(10),
        logger: Logger = PostgresStore.defaultLogger
    ) {
        self.url = url
        self.password = password
        self.node = node
        self.searchFor = searchFor
        self.workTimeout = workTimeout
        self.logger = logger
    }

    /// The settings of a single connection to the writable host (for LISTEN).
    public func connectionConfiguration() async throws -> PostgresConnection.Configuration {
        _ = try await writable()
        let c = url.configuration(current?.host ?? url.hosts[0], password: password)
        return Self.connectionConfiguration(c)
    }

    static func connectionConfiguration(
        _ configuration: PostgresClient.Configuration
    ) -> PostgresConnection.Configuration {
        let host = configuration.host ?? "127.0.0.1"
        let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1"
        var c = PostgresConnection.Configuration(
            host: host,
            port: configuration.port ?? 5432,
            username: configuration.username,
            password: configuration.password,
            database: configuration.database,
            tls: loopback ? .disable : .prefer((try? .init(configuration: .makeClientConfiguration()))!)
        )
        c.options.connectTimeout = .seconds(2)
        return c
    }

    /// The host in use, if one was found.
    public var host: PostgresURL.Host? { current?.host }

    /// Runs `work` on the writable host, finding it first (again) when needed.
    public func run<T: Sendable>(_ work: @escaping @Sendable (PostgresStore) async throws -> T) async throws -> T {
        let (store, seen) = try await writable()
        do {
            return try await watched { try await work(store) }
        } catch  where Self.isHostFailure(error) {
            logger.warning(
                "the database host failed; looking for the writable one",
                metadata: ["warden.host": "\(current?.host.description ?? "?")", "warden.error": "\(error)"]
            )
            await drop(generation: seen)
            let (again, _) = try await writable()
            return try await watched { try await work(again) }
        }
    }

    /// Closes the store in use.
    public func close() async {
        if let store = current?.store { try? await store.close() }
        current = nil
    }

    private func drop(generation seen: Int) async {
        guard let c = current, c.generation == seen else { return }
        current = nil
        // The old client may take its time giving up on a dead host; nothing waits for it.
        Task { try? await c.store.close() }
    }

    /// The store of the writable host, searching the hosts in turn until one answers that it is
    /// not in recovery.
    private func writable() async throws -> (PostgresStore, Int) {
        if let c = current { return (c.store, c.generation) }
        // One search at a time: the others wait for its result.
        if let searching { return try await searching.value }
        let search = Task { try await self.search() }
        searching = search
        defer { searching = nil }
        return try await search.value
    }

    private var searching: Task<(PostgresStore, Int), any Error>?

    private func search() async throws -> (PostgresStore, Int) {
        if let c = current { return (c.store, c.generation) }
        let deadline = ContinuousClock.now + searchFor
        var problems: [String] = []
        while true {
            problems = []
            for host in url.hosts {
                do {
                    if try await Self.isWritable(url.configuration(host, password: password), logger: logger) {
                        let store = try await PostgresStore.open(
                            url.configuration(host, password: password),
                            node: node,
                            timeout: .seconds(5),
                            logger: logger
                        )
                        if let c = current { return (c.store, c.generation) }  // found meanwhile
                        generation += 1
                        current = (store, host, generation)
                        logger.notice("using the database at \(host)")
                        return (store, generation)
                    }
                    problems.append("\(host): a standby (read-only)")
                } catch {
                    problems.append("\(host): \(PostgresStore.describe(error))")
                }
            }
            logger.info("no writable database host yet", metadata: ["warden.hosts": "\(problems)"])
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw WardenError(
            .store,
            "no writable PostgreSQL host within \(DurationFormat.format(searchFor)): \(problems.joined(separator: "; "))"
        )
    }

    /// Whether the server at `configuration` accepts writes (is not a standby).
    static func isWritable(_ configuration: PostgresClient.Configuration, logger: Logger) async throws -> Bool {
        let settings = connectionConfiguration(configuration)
        return try await withTimeout(.seconds(3)) {
            let connection = try await PostgresConnection.connect(configuration: settings, id: 1, logger: logger)
            defer { Task { try? await connection.close() } }
            for try await recovering in try await connection.query("SELECT pg_is_in_recovery()", logger: logger)
                .decode(Bool.self)
            {
                return !recovering
            }
            return false
        }
    }

    /// Whether `error` means the host is gone or cannot take writes, rather than that the work
    /// itself was wrong.
    static func isHostFailure(_ error: any Error) -> Bool {
        if error is TimedOut || error is HostDown { return true }
        guard let e = error as? PSQLError else { return false }
        switch e.code {
        case .server:
            // 25006: read-only transaction (a standby); 57P01-03: shutting down or starting; 08: connection.
            let state = e.serverInfo?[.sqlState] ?? ""
            return state == "25006" || state.hasPrefix("57P") || state.hasPrefix("08")
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed, .clientClosedConnection:
            return true
        default:
            return false
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "the database did not answer in time" }
    }

    struct HostDown: Error, CustomStringConvertible {
        var description: String { "the database host stopped answering, or became read-only" }
    }

    /// A piece of work in flight: when it started, and how to stop it with a reason.
    private struct InFlight {
        var started: ContinuousClock.Instant
        var fail: @Sendable (any Error) -> Void
    }

    private var inFlight: [UInt64: InFlight] = [:]
    private var nextCall: UInt64 = 0
    private var watcher: Task<Void, Never>?

    /// Runs `work` on the host in use. While any work has been waiting for more than a second,
    /// one watcher (for all of them, not one per call: the control plane runs a thousand calls a
    /// second) asks that host every second whether it is still there and writable, and fails
    /// the work when it is not: work waiting on a dead primary (a pool retrying its connection)
    /// fails within about a second instead of at the timeout. Work running longer than
    /// `workTimeout` fails with ``TimedOut``.
    private func watched<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let id = nextCall
        nextCall &+= 1
        let failure = FailureBox()
        let task = Task { try await work() }
        inFlight[id] = InFlight(started: .now) { error in
            failure.set(error)
            task.cancel()
        }
        if watcher == nil { watcher = Task { await self.watch() } }
        defer { inFlight[id] = nil }
        do {
            return try await task.valueCancellingWithCaller()
        } catch {
            // Stopped by the watcher: its reason, not the cancellation it caused.
            if let reason = failure.get() { throw reason }
            throw error
        }
    }

    /// Watches the work in flight once a second until there is none.
    private func watch() async {
        defer { watcher = nil }
        while !inFlight.isEmpty {
            try? await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            for call in inFlight.values where now - call.started >= workTimeout { call.fail(TimedOut()) }
            guard let oldest = inFlight.values.map(\.started).min(), now - oldest >= .seconds(1) else { continue }
            let configuration = url.configuration(current?.host ?? url.hosts[0], password: password)
            let alive = (try? await Self.isWritable(configuration, logger: logger)) ?? false
            if !alive {
                for call in inFlight.values { call.fail(HostDown()) }
            }
        }
    }

    static func withTimeout<T: Sendable>(
        _ timeout: Duration,
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut()
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }
}

/// The reason a watched piece of work was stopped, set once by the watcher.
private final class FailureBox: Sendable {
    private let reason = Mutex<(any Error)?>(nil)

    func set(_ error: any Error) { reason.withLock { if $0 == nil { $0 = error } } }
    func get() -> (any Error)? { reason.withLock { $0 } }
}
