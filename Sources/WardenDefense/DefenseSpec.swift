import Foundation
import WardenCore

/// The log parsers Warden ships, by the name a watch's `parser:` gives (WardenDefense makes one
/// for each case; a spec's own `parsers:` may not take these names).
public enum BuiltInParser: String, Sendable, CaseIterable {
    case sshd, nginx, apache
}

/// The `defense:` section: what Warden watches, how it scores addresses, and how it bans them.
public struct DefenseSpec: Sendable, Equatable {
    /// Where bans are put in place.
    public enum Firewall: String, Sendable, Hashable, CaseIterable {
        /// Warden's own `inet warden` table with timeout sets (the default).
        case nftables
        /// An ipset per family and one DROP rule per family in INPUT.
        case iptables
        /// Decide and record, change nothing.
        case dryRun = "dry-run"
    }

    public var firewall: Firewall = .nftables
    /// Never banned, whatever they do (loopback and the node's own addresses never are either).
    public var allow: [CIDR] = []
    /// Addresses with an established session to these local ports when Warden starts are never banned.
    public var sshPorts: [Int] = [22]
    public var watches: [WatchSpec] = []
    /// User-defined log parsers by name.
    public var parsers: [LogPatternSpec] = []
    /// The scenarios in force: the built-ins (with overrides) and the spec's own (at most
    /// ``maxScenarios``).
    public var scenarios: [ScenarioSpec] = ScenarioSpec.builtIn
    /// The most scenarios a spec may have in force (the threat engine numbers them in a byte).
    public static let maxScenarios = 255
    /// An address whose threat score reaches this is banned.
    public var threshold: Double = 1.0
    /// Threat scores halve over this time.
    public var halfLife: Duration = .seconds(600)
    public var ban = BanSpec()
    /// At most this many new bans per window; more are refused (and counted) until the window moves.
    public var maxBans = GiveUp(count: 60, window: .seconds(60))
    /// Addresses tracked at once; the least recently seen are evicted (and counted) beyond it.
    public var maxAddresses = 100_000
    public var analyst: AnalystSpec?
    /// The nftables table (family inet) or the ipset name prefix Warden owns.
    public var table = "warden"
    /// fail2ban's configuration directory (`fail2ban:`), and the jails enabled in it: each one a
    /// watch per log, its filter as the parser, and a scenario counting its failures.
    public var fail2ban: String?
    public var jails: [Fail2banJail] = []

    /// The jail whose scenario is `scenario`, if any.
    public func jail(forScenario scenario: String) -> Fail2banJail? {
        jails.first { $0.scenarioName == scenario }
    }

    public init() {}
}

/// One source of observations.
public enum WatchSpec: Sendable, Hashable {
    /// The kernel's TCP connection table (/proc/net/tcp, tcp6), read every `every`.
    case connections(every: Duration)
    /// A log file followed like `tail -F`; `fromStart` reads what is already there the first time.
    case log(path: String, parser: String, fromStart: Bool)
    /// `journalctl -f -o json` for one unit (`*` or nil: all), from the system journal or from
    /// the journal files in `directory`.
    case journal(unit: String?, parser: String, directory: String?)
}

/// A user-defined log parser: a regular expression with a named group `addr`, emitting `signal`.
public struct LogPatternSpec: Sendable, Hashable {
    public var name: String
    public var pattern: String
    public var signal: String
    public init(name: String, pattern: String, signal: String) {
        self.name = name
        self.pattern = pattern
        self.signal = signal
    }
}

/// How signals about one address become threat.
public struct ScenarioSpec: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A leaky bucket: each signal adds its weight and the level leaks at `leakPerSecond`; the
        /// scenario triggers (and the bucket empties) when the level passes `capacity - 1`: the
        /// capacity-th signal, unless some of the earlier ones have leaked away.
        case bucket(capacity: Double, leakPerSecond: Double)
        /// A gauge (concurrent connections, half-open connections) at or above `above` triggers,
        /// at most once a minute per address.
        case gauge(above: Double)
        /// fail2ban's count: the `count`-th signal within `within` seconds triggers (the times of
        /// the last `count - 1` are kept per address), and the count starts afresh.
        case window(count: Int, within: Double)
    }

    public var name: String
    /// The signals it listens to (`ssh.auth_failure`, `conn.new`, a custom parser's signal…).
    public var on: [String]
    public var kind: Kind
    /// Added to the address's threat score when it triggers.
    public var score: Double

    public init(name: String, on: [String], kind: Kind, score: Double) {
        self.name = name
        self.on = on
        self.kind = kind
        self.score = score
    }

    /// The signals Warden's own watchers and parsers emit.
    public static let builtInSignals = [
        "ssh.auth_failure", "ssh.invalid_user", "ssh.max_auth", "ssh.preauth", "http.4xx", "http.scanner",
        "conn.new", "conn.concurrent", "conn.half_open", "conn.ports",
    ]

    /// The scenarios in force unless the spec changes or switches them off.
    public static let builtIn: [ScenarioSpec] = [
        // fail2ban's sshd jail: 5 failures within 10 minutes.
        ScenarioSpec(
            name: "ssh-bruteforce",
            on: ["ssh.auth_failure", "ssh.invalid_user", "ssh.max_auth"],
            kind: .bucket(capacity: 5, leakPerSecond: 5.0 / 600),
            score: 1.0
        ),
        ScenarioSpec(
            name: "ssh-probing",
            on: ["ssh.preauth"],
            kind: .bucket(capacity: 10, leakPerSecond: 10.0 / 600),
            score: 0.5
        ),
        ScenarioSpec(
            name: "http-scanner",
            on: ["http.scanner"],
            kind: .bucket(capacity: 3, leakPerSecond: 3.0 / 600),
            score: 1.0
        ),
        ScenarioSpec(
            name: "http-errors",
            on: ["http.4xx"],
            kind: .bucket(capacity: 50, leakPerSecond: 50.0 / 60),
            score: 0.5
        ),
        ScenarioSpec(name: "conn-flood", on: ["conn.new"], kind: .bucket(capacity: 100, leakPerSecond: 10), score: 1.0),
        ScenarioSpec(name: "conn-hog", on: ["conn.concurrent"], kind: .gauge(above: 50), score: 1.0),
        ScenarioSpec(name: "syn-flood", on: ["conn.half_open"], kind: .gauge(above: 20), score: 1.0),
        ScenarioSpec(
            name: "port-scan",
            on: ["conn.ports"],
            kind: .bucket(capacity: 10, leakPerSecond: 10.0 / 60),
            score: 1.0
        ),
    ]
}

/// Ban durations: `first` for a first offence, times `multiplier` for each repeat, at most `max`.
public struct BanSpec: Sendable, Hashable {
    /// The first ban of an address.
    public var first: Duration = .seconds(600)
    public var multiplier: Double = 4
    public var max: Duration = .seconds(7 * 86_400)

    public init(first: Duration = .seconds(600), multiplier: Double = 4, max: Duration = .seconds(7 * 86_400)) {
        self.first = first
        self.multiplier = multiplier
        self.max = max
    }

    /// The duration of the `offence`-th ban of one address (1 for the first).
    public func duration(offence: Int) -> Duration {
        let seconds = first.seconds * pow(multiplier, Double(Swift.max(0, offence - 1)))
        return seconds >= max.seconds ? max : .milliseconds(Int64(seconds * 1000))
    }
}

/// An OpenAI-compatible chat-completions endpoint asked for a verdict on borderline addresses.
public struct AnalystSpec: Sendable, Equatable {
    /// The base URL, such as `http://127.0.0.1:11434/v1` (`/chat/completions` is appended).
    public var url: String
    public var model: String
    public var timeout: Duration = .seconds(2)
    /// Questions in flight at once; beyond it the rules decide alone.
    public var concurrency = 2
    /// Bearer token, resolved from `env:` or `file:`.
    public var token: Secret?
    /// A PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?

    public init(url: String, model: String) {
        self.url = url
        self.model = model
    }
}

#if canImport(Glibc)
import Glibc
#endif
