import Foundation
import Logging
import ServiceLifecycle
import WardenCore
import Yams

/// `backup:`: scheduled backups of the store (as `warden backup` takes them).
///
/// ```yaml
/// backup: { dir: /var/backups/warden, every: 6h, keep: 28, key: file:/etc/warden/backup.key }
/// ```
public struct BackupSpec: Sendable, Equatable {
    public var directory: String
    public var every: Duration = .seconds(6 * 3600)
    public var keep = 28
    /// The encryption key (nil: not encrypted).
    public var key: Secret?

    public init(directory: String) { self.directory = directory }
}

extension Spec {
    /// Scheduled backups (nil when the spec has none or the loader had no ``BackupSection``).
    public var backup: BackupSpec? { sections[BackupSection.self] }
}

public enum BackupSection: SpecSection {
    public static let key = "backup"

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> BackupSpec? {
        guard let f = r.mapping(node, key: key, allowed: ["dir", "every", "keep", "key"], required: ["dir"]),
            let dn = f["dir"], let dir = r.string(dn, key: "backup.dir", what: "a directory")
        else { return nil }
        var spec = BackupSpec(directory: SpecLoader.absolute(dir, base: context.baseDir))
        let absolute = SpecLoader.absolute(dir, base: context.baseDir)
        if absolute == context.spec.stateDir || absolute.hasPrefix(context.spec.stateDir + "/") {
            r.fail(dn, "backup.dir", "backups inside the state directory go with it; choose a directory elsewhere")
        }
        if let n = f["every"], let d = r.duration(n, key: "backup.every", min: .seconds(1), max: .seconds(30 * 86400)) {
            spec.every = d
        }
        if let n = f["keep"], let v = r.int(n, key: "backup.keep", range: 1...10_000) { spec.keep = v }
        if let n = f["key"],
            let reference = r.string(n, key: "backup.key", what: "a secret reference such as file:PATH")
        {
            switch context.loader.resolveSecret(reference) {
            case .success(let secret):
                if secret.bytes.count < 16 {
                    r.fail(n, "backup.key", "the key must be at least 16 bytes (use 32 random bytes)")
                } else {
                    spec.key = secret
                }
            case .failure(let problem): r.fail(n, "backup.key", problem.message)
            }
        }
        return spec
    }
}

/// A backup was taken (`backup.created`) or could not be (`backup.failed`).
public struct BackupCreated: EventPayload {
    public static let type = "backup.created"
    public var file: String
    public var events: Int64
    public var samples: Int64
    public var bytes: Int64
    public var encrypted: Bool
    public var seconds: Double
    public var deleted: [String]
}

public struct BackupFailed: EventPayload {
    public static let type = "backup.failed"
    public var error: String
}

/// Takes a backup every `spec.every` (the first one `every` after start) and keeps the newest
/// `spec.keep`; each is an event.
public final class BackupService: Service, Sendable {
    let spec: BackupSpec
    let database: String
    let bus: EventBus
    let clock: any WardenClock
    let logger: Logger

    public init(
        spec: BackupSpec,
        database: String,
        bus: EventBus,
        clock: any WardenClock = SystemClock(),
        logger: Logger
    ) {
        self.spec = spec
        self.database = database
        self.bus = bus
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.spec.every) }
            } catch {
                return
            }
            await backUp()
        }
    }

    /// One backup now, and the old ones pruned.
    public func backUp() async {
        let spec = self.spec
        let database = self.database
        let started = clock.now()
        do {
            let (manifest, deleted) = try await blockingWork {
                let m = try StoreBackup.create(database: database, directory: spec.directory, key: spec.key)
                return (m, try StoreBackup.prune(directory: spec.directory, keep: spec.keep))
            }
            let seconds = (clock.now() - started).seconds
            logger.info("backup taken", metadata: ["warden.file": "\(manifest.file)", "warden.seconds": "\(seconds)"])
            bus.publish(
                BackupCreated(
                    file: spec.directory + "/" + manifest.file,
                    events: manifest.events,
                    samples: manifest.samples,
                    bytes: manifest.snapshotBytes,
                    encrypted: manifest.encrypted,
                    seconds: seconds,
                    deleted: deleted
                ),
                source: "store",
                subject: "backup"
            )
        } catch {
            logger.error("backup failed", metadata: ["warden.error": "\(error)"])
            bus.publish(BackupFailed(error: "\(error)"), source: "store", subject: "backup")
        }
    }
}
