import WardenCore
import Yams

/// The `audit:` section: where the audit trail is copied as it is written.
public struct AuditSpec: Sendable, Equatable {
    /// A JSON-lines file, one record per line (appended to; a rotated file is opened again).
    public var file: String?
    /// A syslog receiver (RFC 5424 messages).
    public var syslog: SyslogTarget?

    public init(file: String? = nil, syslog: SyslogTarget? = nil) {
        self.file = file
        self.syslog = syslog
    }

    public var shipsAnywhere: Bool { file != nil || syslog != nil }
}

/// `udp://host:port` (RFC 5426) or `tcp://host:port` (octet counting, RFC 6587).
public struct SyslogTarget: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable, CaseIterable { case udp, tcp }
    public var transport: Transport
    public var host: String
    public var port: Int

    public init(transport: Transport, host: String, port: Int) {
        self.transport = transport
        self.host = host
        self.port = port
    }

    /// Nil when `text` is not `udp://host[:port]` or `tcp://host[:port]` (514 by default).
    public init?(_ text: String) {
        guard let sep = text.range(of: "://"), let t = Transport(rawValue: String(text[..<sep.lowerBound])),
            let (host, port) = HostPort.parse(String(text[sep.upperBound...]), defaultPort: 514)
        else { return nil }
        self.init(transport: t, host: host, port: port)
    }

    public var description: String {
        "\(transport.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

extension Spec {
    /// Where the audit trail is shipped (nowhere when the loader had no ``AuditSection``).
    public var audit: AuditSpec { sections[AuditSection.self] ?? AuditSpec() }
}

/// The `audit:` section of the spec: `audit: { file: PATH, syslog: udp://HOST:PORT }`.
public enum AuditSection: SpecSection {
    public static let key = "audit"

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> AuditSpec? {
        var audit = AuditSpec()
        guard let f = r.mapping(node, key: key, allowed: ["file", "syslog"]) else { return nil }
        if let n = f["file"], let text = r.string(n, key: "audit.file", what: "a file path") {
            if text.isEmpty || text.utf8.count > 4096 || text.contains("\0") {
                r.fail(n, "audit.file", "expected a file path of 1 to 4096 bytes")
            } else {
                audit.file = text.hasPrefix("/") ? text : context.baseDir + "/" + text
            }
        }
        if let n = f["syslog"], let text = r.string(n, key: "audit.syslog", what: "udp://host:port or tcp://host:port")
        {
            if let target = SyslogTarget(text) {
                audit.syslog = target
            } else {
                r.fail(
                    n,
                    "audit.syslog",
                    "found '\(text)'; expected udp://host:port or tcp://host:port such as udp://127.0.0.1:514"
                )
            }
        }
        return audit
    }
}
