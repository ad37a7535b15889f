/// One datagram of systemd's notify protocol (`sd_notify(3)`): newline-separated `KEY=VALUE`s.
public struct NotifyMessage: Sendable, Hashable {
    public var fields: [(key: String, value: String)]

    public init(_ text: String) {
        fields = text.split(whereSeparator: { $0 == "\n" }).compactMap { line in
            guard let eq = line.firstIndex(of: "=") else { return nil }
            return (String(line[..<eq]), String(line[line.index(after: eq)...]))
        }
    }

    public static func == (lhs: NotifyMessage, rhs: NotifyMessage) -> Bool {
        lhs.fields.map { "\($0.key)=\($0.value)" } == rhs.fields.map { "\($0.key)=\($0.value)" }
    }

    public func hash(into hasher: inout Hasher) {
        for f in fields {
            hasher.combine(f.key)
            hasher.combine(f.value)
        }
    }

    public func value(_ key: String) -> String? { fields.last { $0.key == key }?.value }

    /// `READY=1`.
    public var ready: Bool { value("READY") == "1" }
    /// `WATCHDOG=1`.
    public var watchdog: Bool { value("WATCHDOG") == "1" }
    /// `WATCHDOG=trigger`: the service asks to be treated as hung.
    public var watchdogTrigger: Bool { value("WATCHDOG") == "trigger" }
    /// `STOPPING=1`.
    public var stopping: Bool { value("STOPPING") == "1" }
    /// `RELOADING=1`.
    public var reloading: Bool { value("RELOADING") == "1" }
    /// `STATUS=…`: a line of text for people.
    public var status: String? { value("STATUS") }
    /// `MAINPID=…`.
    public var mainPID: Int32? { value("MAINPID").flatMap { Int32($0) } }
    /// `ERRNO=…`.
    public var errno: Int32? { value("ERRNO").flatMap { Int32($0) } }
    /// `WATCHDOG_USEC=…`: a new watchdog interval.
    public var watchdogInterval: Duration? { value("WATCHDOG_USEC").flatMap { UInt64($0) }.map { .microseconds($0) } }
    /// `EXTEND_TIMEOUT_USEC=…`.
    public var extendTimeout: Duration? {
        value("EXTEND_TIMEOUT_USEC").flatMap { UInt64($0) }.map { .microseconds($0) }
    }
}
