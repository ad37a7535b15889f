import Foundation
import WardenCore
import Yams

/// How a node joins the fleet: where the control planes are, who it is, and how it ships.
public struct FleetSpec: Sendable, Equatable {
    /// Control-plane URLs, tried in turn: any replica will do.
    public var control: [String]
    /// This node's name in the fleet (unique in it).
    public var node: String
    public var labels: [String: String] = [:]
    /// The agent credential (`token: env:NAME`).
    public var token: Secret
    /// How often to ship what is new.
    public var every: Duration = .seconds(1)
    /// At most this many events per request.
    public var batch: Int = 1000
    /// Certificate authorities to trust for https control planes.
    public var caFile: String?
    /// At most this many unshipped events are kept past the event retention while the control
    /// plane is away; beyond that the oldest are dropped, loudly.
    public var outbox: Int64 = 1_000_000

    public init(control: [String], node: String, token: Secret) {
        self.control = control
        self.node = node
        self.token = token
    }
}

extension Spec {
    /// The fleet this node joins; nil when the spec has no `fleet:` (it runs alone).
    public var fleet: FleetSpec? { sections[FleetSection.self] }
}

/// The `fleet:` section: give it to the loader and read it back as `spec.fleet`.
public enum FleetSection: SpecSection {
    public static let key = "fleet"
    static let keys = ["control", "node", "labels", "token", "every", "batch", "ca", "outbox"]

    public static func read(_ node: Node, _ context: SpecContext, _ r: inout YAMLReader) -> FleetSpec? {
        guard let f = r.mapping(node, key: key, allowed: keys, required: ["control", "node", "token"]) else {
            return nil
        }
        let before = r.issues.count
        var urls: [String] = []
        if let n = f["control"] {
            let items: [Node] = n.sequence.map { Array($0) } ?? [n]
            if items.isEmpty { r.fail(n, "fleet.control", "give at least one control-plane URL") }
            for (i, item) in items.prefix(16).enumerated() {
                let k = items.count == 1 && n.sequence == nil ? "fleet.control" : "fleet.control[\(i)]"
                if let url = SpecLoader.outboundURL(item, key: k, example: "http://10.0.0.5:7080", &r) {
                    urls.append(url)
                }
            }
            if items.count > 16 { r.fail(n, "fleet.control", "at most 16 control-plane URLs") }
        }
        var name = ""
        if let n = f["node"], let text = r.string(n, key: "fleet.node", what: "a node name") {
            if FleetNames.isValid(text) {
                name = text
            } else {
                r.fail(
                    n,
                    "fleet.node",
                    "'\(text.prefix(80))' is not a valid node name; use letters, digits, '-', '_' and '.' (at most 64)"
                )
            }
        }
        var token = Secret("")
        if let n = f["token"], let reference = r.string(n, key: "fleet.token", what: "env:NAME or file:PATH") {
            switch context.loader.resolveSecret(reference) {
            case .success(let secret): token = secret
            case .failure(let problem): r.fail(n, "fleet.token", problem.message)
            }
        }
        var spec = FleetSpec(control: urls, node: name, token: token)
        if let n = f["labels"] {
            if case .mapping(let m) = n {
                for (k, v) in m {
                    guard let label = k.scalar?.string, FleetNames.isValid(label), let value = v.scalar?.string,
                        value.utf8.count <= 256
                    else {
                        r.fail(
                            k,
                            "fleet.labels",
                            "a label is a name (letters, digits, '-', '_', '.') with a value of at most 256 bytes"
                        )
                        continue
                    }
                    spec.labels[label] = value
                }
                if spec.labels.count > 32 { r.fail(n, "fleet.labels", "at most 32 labels") }
            } else {
                r.fail(n, "fleet.labels", "expected a mapping of label: value, found \(YAMLReader.describe(n))")
            }
        }
        if let n = f["every"], let d = r.duration(n, key: "fleet.every", min: .milliseconds(50), max: .seconds(3600)) {
            spec.every = d
        }
        if let n = f["batch"], let v = r.int(n, key: "fleet.batch", range: 1...FleetBatch.maxEvents) { spec.batch = v }
        if let n = f["outbox"], let v = r.int(n, key: "fleet.outbox", range: 1000...1_000_000_000) {
            spec.outbox = Int64(v)
        }
        if let n = f["ca"] { spec.caFile = SpecLoader.caFile(n, key: "fleet.ca", baseDir: context.baseDir, &r) }
        return r.issues.count == before ? spec : nil
    }
}
