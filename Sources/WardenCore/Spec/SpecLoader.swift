import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// Reads and validates `warden.yaml`.
///
/// All problems are collected in one pass and thrown together as ``SpecErrors``: YAML syntax,
/// wrong types, unknown keys (with suggestions), out-of-range values, unknown or cyclic
/// dependencies, missing or non-executable programs, and unknown users or groups.
public struct SpecLoader: Sendable {
    /// The environment used to find programs (`PATH`) when a service does not set its own.
    public var environment: [String: String]
    /// The domains' sections this loader reads besides the core ones.
    public var sections: [any SpecSection.Type]
    /// Where ``resolveSecret(_:)`` notes the references it read, during a parse.
    var secretReads: SecretReads?
    /// How `vault:` references are read (the spec's `vault:` section says where); without one, a
    /// spec with a `vault:` section is refused.
    public var vaultHTTP: (any BlockingHTTP)?

    public init(environment: [String: String] = ProcessEnvironment.current(), sections: [any SpecSection.Type] = []) {
        self.environment = environment
        self.sections = sections
    }

    static let topKeys = ["state_dir", "logs", "retention", "stats", "samples", "services", "vault", "cgroups"]

    /// The keys that the registered sections read inside the entries of `section` (see
    /// ``SpecSection/entryKeys``): the owner of those entries adds them to the keys it allows.
    public func entryKeys(in section: String) -> [String] {
        sections.flatMap { $0.entryKeys[section] ?? [] }
    }

    static let samplesKeys = [
        "raw", "retention", "hourly", "max_future", "max_series", "max_labels", "max_label_value",
    ]
    static let serviceKeys = [
        "run", "env", "cwd", "user", "group", "after", "restart", "ready", "health", "watchdog", "stop", "logs",
        "rebuild", "limits",
    ]
    static let stepKeys = ["run", "timeout", "env", "cwd"]
    static let restartKeys = ["policy", "backoff", "jitter", "reset", "give_up"]
    static let probeKinds = ["http", "tcp", "exec"]
    static let healthKeys = probeKinds + ["ca", "every", "timeout", "failures", "successes", "grace"]
    static let readyKeys = probeKinds + ["ca", "notify", "every", "timeout", "within"]
    static let stopKeys = ["signal", "timeout"]
    static let logKeys = ["max_size", "keep"]

    /// The largest spec file read (a spec for thousands of services is a few megabytes).
    public static let maxFileSize = 16 << 20

    /// Loads the spec at `path`.
    public func load(path: String) throws(SpecErrors) -> Spec {
        let bytes = try Self.readBytes(path)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let baseDir = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        return try parse(bytes: bytes, file: path, baseDir: baseDir)
    }

    /// Where a Warden keeps its state and serves its API.
    public struct Location: Sendable, Hashable {
        public var stateDir: String
        public var host: String
        public var port: Int
        /// With `api.tls`: the PEM file the API is trusted by (its `ca`, else its `cert`).
        public var trust: String?

        public init(stateDir: String, host: String, port: Int, trust: String? = nil) {
            self.stateDir = stateDir
            self.host = host
            self.port = port
            self.trust = trust
        }
    }

    /// Reads only `state_dir` and `api.listen` from the spec at `path`, without validating the rest:
    /// the read commands use it to find a Warden even when the spec has other problems.
    public func locate(path: String) throws(SpecErrors) -> Location {
        let text = String(decoding: try Self.readBytes(path), as: UTF8.self)
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let baseDir = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        let root = try Self.compose(text, file: path)
        var location = Location(stateDir: Self.defaultStateDir(environment: environment), host: "127.0.0.1", port: 7070)
        if let dir = root?.mapping?["state_dir"]?.scalar?.string {
            location.stateDir = Self.absolute(dir, base: baseDir)
        }
        if let listen = root?.mapping?["api"]?.mapping?["listen"]?.scalar?.string,
            let (host, port) = HostPort.parse(listen)
        {
            location.host = host == "0.0.0.0" ? "127.0.0.1" : (host == "::" ? "::1" : host)
            location.port = port
        }
        let tls = root?.mapping?["api"]?.mapping?["tls"]?.mapping
        if let file = (tls?["ca"] ?? tls?["cert"])?.scalar?.string, !file.isEmpty {
            location.trust = Self.absolute(file, base: baseDir)
        }
        return location
    }

    /// Parses the bytes of a spec file (checked to be UTF-8 first, as ``load(path:)`` does).
    public func parse(bytes: [UInt8], file: String, baseDir: String) throws(SpecErrors) -> Spec {
        if let bad = Self.firstInvalidUTF8(bytes) {
            let before = bytes[..<bad]
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: before.reduce(1) { $0 + ($1 == 10 ? 1 : 0) },
                    column: bad - (before.lastIndex(of: 10).map { $0 + 1 } ?? 0) + 1,
                    key: "",
                    message:
                        "the byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) is not UTF-8; save the spec as UTF-8"
                )
            ])
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: file, baseDir: baseDir)
    }

    /// Parses spec text; relative paths resolve against `baseDir`. The spec says which secret
    /// references it read (``Spec/secretsRead``).
    public func parse(_ text: String, file: String, baseDir: String) throws(SpecErrors) -> Spec {
        var recording = self
        let reads = SecretReads()
        recording.secretReads = reads
        var spec = try recording.parseText(text, file: file, baseDir: baseDir)
        spec.secretsRead = reads.all
        spec.vault = reads.vault.map { SpecVault(session: $0) }
        return spec
    }

    private func parseText(_ text: String, file: String, baseDir: String) throws(SpecErrors) -> Spec {
        var reader = YAMLReader(file: file)
        let root = try Self.compose(text, file: file)
        guard let root, !YAMLReader.isNull(root) else {
            throw SpecErrors([
                SpecIssue(
                    file: file,
                    line: 0,
                    column: 0,
                    key: "",
                    message: "the spec is empty; it needs at least a 'services' mapping"
                )
            ])
        }
        guard
            let top = reader.mapping(
                root,
                key: "",
                allowed: Self.topKeys + sections.flatMap { [$0.key] + $0.otherKeys }
            )
        else {
            throw SpecErrors(reader.issues)
        }

        var spec = Spec(path: file, stateDir: Self.defaultStateDir(environment: environment))
        if let node = top["vault"] { secretReads?.vault = readVault(node, baseDir: baseDir, &reader) }
        if let node = top["state_dir"], let dir = reader.string(node, key: "state_dir", what: "a directory path") {
            spec.stateDir = Self.absolute(dir, base: baseDir)
        }
        if let node = top["logs"] { spec.logs = readLogs(node, key: "logs", defaults: spec.logs, &reader) }
        if let node = top["retention"], let f = reader.mapping(node, key: "retention", allowed: ["events"]) {
            if let n = f["events"], let d = reader.duration(n, key: "retention.events", min: .seconds(60)) {
                spec.retention.events = d
            }
        }
        if let node = top["stats"], let f = reader.mapping(node, key: "stats", allowed: ["every", "host"]) {
            if let n = f["host"], let b = reader.bool(n, key: "stats.host") { spec.hostMetrics = b }
            if let n = f["every"] {
                if case .scalar(let s) = n, s.string == "off" {
                    spec.statsOn = false
                    if spec.hostMetrics {
                        reader.fail(
                            n,
                            "stats.every",
                            "found off, but stats.host is true: host metrics are recorded every stats.every"
                        )
                    }
                } else if case .scalar(let s) = n, DurationFormat.parse(s.string) == nil {
                    reader.fail(n, "stats.every", "found '\(s.string)'; expected off or \(DurationFormat.expected)")
                } else if let d = reader.duration(n, key: "stats.every", min: .milliseconds(100)) {
                    spec.statsEvery = d
                }
            }
        }
        if let node = top["samples"], let f = reader.mapping(node, key: "samples", allowed: Self.samplesKeys) {
            if let n = f["raw"], let d = reader.duration(n, key: "samples.raw", min: .seconds(60)) {
                spec.samples.raw = d
            }
            if let n = f["retention"], let d = reader.duration(n, key: "samples.retention", min: .seconds(60)) {
                spec.samples.retention = d
            }
            var hourly: Duration?
            if let n = f["hourly"], let d = reader.duration(n, key: "samples.hourly", min: .seconds(3600)) {
                hourly = d
            }
            if let n = f["max_future"], let d = reader.duration(n, key: "samples.max_future") {
                spec.samples.maxFuture = d
            }
            if let n = f["max_series"], let v = reader.int(n, key: "samples.max_series", range: 1...100_000_000) {
                spec.samples.maxSeries = v
            }
            if let n = f["max_labels"], let v = reader.int(n, key: "samples.max_labels", range: 0...256) {
                spec.samples.maxLabels = v
            }
            if let n = f["max_label_value"],
                let v = reader.byteSize(n, key: "samples.max_label_value", min: 1, max: 65536)
            {
                spec.samples.maxLabelValue = Int(v)
            }
            if spec.samples.retention < spec.samples.raw {
                reader.fail(
                    f["retention"] ?? node,
                    "samples.retention",
                    "rollups must be kept at least as long as raw samples (\(DurationFormat.format(spec.samples.raw)))"
                )
            }
            if let hourly, hourly < spec.samples.retention {
                reader.fail(
                    f["hourly"] ?? node,
                    "samples.hourly",
                    "1-hour rollups must be kept at least as long as 1-minute ones (\(DurationFormat.format(spec.samples.retention)))"
                )
            }
            spec.samples.hourly = max(hourly ?? spec.samples.hourly, spec.samples.retention)
        }
        if let node = top["cgroups"] {
            let modes = CgroupMode.allCases.map(\.rawValue)
            if case .scalar(let s) = node, let mode = CgroupMode(rawValue: s.string) {
                spec.cgroups = mode
            } else {
                reader.fail(
                    node,
                    "cgroups",
                    "found \(YAMLReader.describe(node)); expected one of \(modes.joined(separator: ", "))"
                )
            }
        }
        var serviceKeyNodes: [String: Node] = [:]
        var declared: [(name: String, after: [String], node: Node?)] = []
        if let node = top["services"], let entries = reader.namedEntries(node, key: "services", what: "services") {
            for (name, keyNode, value) in entries {
                let key = "services.\(name)"
                if !Self.isValidName(name) {
                    reader.fail(
                        keyNode,
                        key,
                        "'\(name)' is not a valid service name; use letters, digits, '-', '_' and '.' (at most 64), starting with a letter or digit"
                    )
                    continue
                }
                serviceKeyNodes[name] = keyNode
                var probe = YAMLReader(file: file)
                let afterNode = value.mapping?["after"]
                declared.append((name, afterNode.flatMap { probe.stringList($0, key: "", what: "") } ?? [], afterNode))
                if let service = readService(
                    name: name,
                    node: value,
                    key: key,
                    baseDir: baseDir,
                    logs: spec.logs,
                    &reader
                ) {
                    if spec.cgroups == .off, !service.limits.isEmpty, let n = value.mapping?["limits"] {
                        reader.fail(
                            n,
                            "\(key).limits",
                            "limits are enforced by cgroups, which this spec turns off (cgroups: off); remove one or the other"
                        )
                    }
                    spec.services.append(service)
                }
            }
        }
        checkDependencies(declared, &reader)
        for section in sections { read(section, top, into: &spec, baseDir: baseDir, &reader) }

        if !reader.issues.isEmpty {
            throw SpecErrors(reader.issues.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return spec
    }

    private func read<S: SpecSection>(
        _ section: S.Type,
        _ top: YAMLReader.Fields,
        into spec: inout Spec,
        baseDir: String,
        _ reader: inout YAMLReader
    ) {
        spec.sections[section] = S.read(top: top, SpecContext(spec: spec, loader: self, baseDir: baseDir), &reader)
    }
}
