#if canImport(Glibc)
import Glibc
#endif

/// Signal names and numbers, as the spec and the CLI write them.
public enum Signals {
    /// Linux signal numbers by name, without the `SIG` prefix.
    public static let byName: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2,
        "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "CHLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP,
        "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ,
        "VTALRM": SIGVTALRM, "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
    ]

    /// Parses `SIGTERM`, `TERM`, `term` or `15`.
    public static func parse(_ text: String) -> Int32? {
        if let n = Int32(text), n > 0, n < 65 { return n }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return byName[name]
    }

    /// `SIGTERM` for 15; the number for signals without a name.
    public static func name(_ signal: Int32) -> String {
        if let entry = byName.first(where: { $0.value == signal }) { return "SIG" + entry.key }
        return "signal \(signal)"
    }
}
