#if canImport(Glibc)
import Glibc
#endif

/// An error Warden reports to people: a stable code, a message that says what went wrong and how to
/// fix it, and the underlying cause when there is one.
public struct WardenError: Error, CustomStringConvertible, Sendable {
    /// Stable identifiers for the kinds of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidSpec = Code("invalid_spec")
        public static let stateDir = Code("state_dir")
        public static let alreadyRunning = Code("already_running")
        public static let portInUse = Code("port_in_use")
        public static let spawnFailed = Code("spawn_failed")
        public static let store = Code("store")
        public static let notRunning = Code("not_running")
        public static let notFound = Code("not_found")
        public static let badRequest = Code("bad_request")
        public static let io = Code("io")
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message) (\(cause))" }
        return message
    }
}

/// An `errno` value with the call that produced it.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
