#if canImport(Glibc)
import Glibc
#endif

/// What `warden-sample` was asked to do.
struct Options {
    var port: Int?
    var crashAfter: Double?
    var exitCode: Int32 = 1
    var hangAfter: Double?
    var ignoreTerm = false
    var termDelay: Double = 0
    var readyAfter: Double?
    var watchdogEvery: Double?
    var status: String?
    var growBytesPerSecond: Double = 0
    var daemonize = false
    var children = 0
    var printEvery: Double?
    var message = "tick"
    var failHealthAfter: Double?
    var pidFile: String?
    var faultUnless: String?
    var faultOnce: String?
    var host = "127.0.0.1"
    var crashWhen: String?
    var lock: String?
    var readyWhen: String?

    static let usage = """
        usage: warden-sample [options]
          --port N                serve GET /healthz on 127.0.0.1:N (200 "ok")
          --crash-after DUR       exit after DUR with --exit-code (default 1)
          --exit-code N
          --hang-after DUR        stop answering /healthz and stop sending WATCHDOG=1
          --fail-health-after DUR answer /healthz with 500 after DUR
          --ignore-sigterm        keep running on SIGTERM
          --term-delay DUR        on SIGTERM, take DUR to exit
          --ready-after DUR       send READY=1 on NOTIFY_SOCKET after DUR
          --ready-when PATH       send READY=1 on NOTIFY_SOCKET once PATH exists
          --watchdog-every DUR    send WATCHDOG=1 every DUR (default: half of WATCHDOG_USEC when set)
          --status TEXT           send STATUS=TEXT at start
          --grow-memory BYTES/S   allocate and touch memory at this rate
          --daemonize             double-fork into the background (the parent exits 0)
          --children N            start N child processes in the same process group
          --print-every DUR       write a line to stdout every DUR
          --message TEXT          the line to write (default: tick)
          --pid-file PATH         write the final pid here
          --fault-unless PATH     crash/hang/failing health only while PATH does not exist
          --fault-once PATH       the fault happens once: PATH is created when it does
          --host ADDR             the IPv4 address --port listens on (default 127.0.0.1)
          --crash-when PATH       exit with --exit-code as soon as PATH exists (the demo's life support)
          --lock PATH             refuse to start (exit 1) while PATH names a process that still exists,
                                  then write the own pid there (as postgres's postmaster.pid)
        DUR: 250ms, 2s, 1m
        """

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 1
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func duration() -> Double {
            let text = value()
            guard let d = parseDuration(text) else { fail("'\(text)' is not a duration (use 250ms, 2s, 1m)") }
            return d
        }
        while i < args.count {
            switch args[i] {
            case "--port": o.port = Int(value())
            case "--crash-after": o.crashAfter = duration()
            case "--exit-code": o.exitCode = Int32(value()) ?? 1
            case "--hang-after": o.hangAfter = duration()
            case "--fail-health-after": o.failHealthAfter = duration()
            case "--ignore-sigterm": o.ignoreTerm = true
            case "--term-delay": o.termDelay = duration()
            case "--ready-after": o.readyAfter = duration()
            case "--watchdog-every": o.watchdogEvery = duration()
            case "--status": o.status = value()
            case "--grow-memory": o.growBytesPerSecond = Double(value()) ?? 0
            case "--daemonize": o.daemonize = true
            case "--children": o.children = Int(value()) ?? 0
            case "--print-every": o.printEvery = duration()
            case "--message": o.message = value()
            case "--pid-file": o.pidFile = value()
            case "--fault-unless": o.faultUnless = value()
            case "--fault-once": o.faultOnce = value()
            case "--host": o.host = value()
            case "--crash-when": o.crashWhen = value()
            case "--lock": o.lock = value()
            case "--ready-when": o.readyWhen = value()
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown option \(args[i])\n\(usage)")
            }
            i += 1
        }
        return o
    }
}

func parseDuration(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let v = Double(text.dropLast(suffix.count)) { return v * scale }
    }
    return text == "0" ? 0 : nil
}

func fail(_ message: String) -> Never {
    let line = "warden-sample: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
