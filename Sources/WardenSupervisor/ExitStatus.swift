import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// How a process ended.
public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// It called exit with this code.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32, coreDumped: Bool)
    /// It ended while Warden was not its parent (an adopted process): the status is not knowable.
    case unknown

    /// Whether this counts as a clean, successful exit.
    public var isSuccess: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let sig, let core): return "killed by \(Signals.name(sig))\(core ? " (core dumped)" : "")"
        case .unknown: return "exit status unknown"
        }
    }
}
