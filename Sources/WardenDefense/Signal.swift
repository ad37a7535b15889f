import WardenCore

/// One observation about one address, from a watcher or a log parser: `ssh.auth_failure` (a
/// count), `conn.concurrent` (a gauge), …
public struct DefenseSignal: Sendable, Hashable {
    public var address: IPAddress
    public var name: String
    /// The count for counted signals, the level for gauges.
    public var value: Double
    /// What was seen, for people (a log line, "212 connections").
    public var evidence: String

    public init(address: IPAddress, name: String, value: Double = 1, evidence: String) {
        self.address = address
        self.name = name
        self.value = value
        self.evidence = evidence
    }
}
