import CWardenSys

#if canImport(Glibc)
import Glibc
#endif

// warden-sample: a small, controllable service for Warden's tests, benchmarks and demo.
// It uses only the C library so that it starts in a millisecond and stays small.

var options = Options.parse(CommandLine.arguments)

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func say(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

func notify(_ message: String) {
    guard let path = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !path.isEmpty else { return }
    _ = warden_notify_send(path, message, message.utf8.count)
}

if options.daemonize {
    // The classic double fork: the parent returns to its caller, the middle process leaves the
    // session, and the grandchild carries on as the daemon.
    let first = fork()
    if first > 0 { exit(0) }
    setsid()
    let second = fork()
    if second > 0 { exit(0) }
}

if let path = options.lock {
    // A process that still exists (a zombie too) holds the lock, as postgres sees its lock file.
    var buffer = [UInt8](repeating: 0, count: 32)
    let reader = open(path, O_RDONLY)
    let n = reader >= 0 ? buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, 31) } : 0
    if reader >= 0 { close(reader) }
    let digits = buffer.prefix(max(0, n)).prefix { $0 >= 48 && $0 <= 57 }
    if let holder = pid_t(String(decoding: digits, as: UTF8.self)), holder != getpid(),
        kill(holder, 0) == 0 || errno == EPERM
    {
        say("warden-sample: the lock \(path) is held by pid \(holder)")
        exit(1)
    }
    let text = "\(getpid())\n"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd >= 0 {
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

if let path = options.pidFile {
    let text = "\(getpid())\n"
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    if fd >= 0 {
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

var childPids: [pid_t] = []
for _ in 0..<options.children {
    let pid = fork()
    if pid == 0 {
        // A plain child: sleeps until killed.
        while true { pause() }
    }
    if pid > 0 { childPids.append(pid) }
}

// SIGTERM: exit cleanly (after --term-delay), or ignore it.
nonisolated(unsafe) var termRequested: sig_atomic_t = 0
if options.ignoreTerm {
    signal(SIGTERM, SIG_IGN)
} else {
    signal(SIGTERM) { _ in termRequested = 1 }
}

// Faults can be switched off by a file (a rebuild that "fixes" the service creates it), or
// limited to one occurrence.
func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
let faultsEnabled = !(options.faultUnless.map(exists) ?? false) && !(options.faultOnce.map(exists) ?? false)
if !faultsEnabled {
    options.crashAfter = nil
    options.hangAfter = nil
    options.failHealthAfter = nil
}
let faultOncePath = options.faultOnce
func faultHappened() {
    if let path = faultOncePath {
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        if fd >= 0 { close(fd) }
    }
}

let start = now()
var listenFD: Int32 = -1
if let port = options.port {
    listenFD = socket(
        AF_INET,
        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
        0
    )
    var one: Int32 = 1
    setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr(options.host)
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    if bound != 0 || listen(listenFD, 128) != 0 {
        fail("cannot listen on \(options.host):\(port): \(String(cString: strerror(errno)))")
    }
}

var watchdogEvery = options.watchdogEvery
if watchdogEvery == nil, let usec = getenv("WATCHDOG_USEC").flatMap({ Double(String(cString: $0)) }) {
    watchdogEvery = usec / 2e6
}
if let status = options.status { notify("STATUS=\(status)") }
if options.readyAfter == nil && options.port != nil {
    // Without an explicit delay, a server is ready once it listens.
}

var readySent = false
var nextWatchdog = start
var nextPrint = start
var hung = false
var grown: [UnsafeMutableRawPointer] = []
var grownBytes = 0.0
var lastGrow = start

while true {
    let t = now()
    if termRequested != 0 {
        if options.termDelay > 0 { usleep(useconds_t(options.termDelay * 1e6)) }
        for pid in childPids { kill(pid, SIGTERM) }
        say("warden-sample: stopping on SIGTERM")
        exit(0)
    }
    if let after = options.crashAfter, t - start >= after {
        faultHappened()
        say("warden-sample: crashing with exit code \(options.exitCode)")
        exit(options.exitCode)
    }
    if let path = options.crashWhen, access(path, F_OK) == 0 {
        say("warden-sample: \(path) exists: failing")
        exit(options.exitCode)
    }
    if let after = options.hangAfter, t - start >= after, !hung {
        hung = true
        faultHappened()
        say("warden-sample: hanging")
    }
    if let after = options.readyAfter, !readySent, t - start >= after {
        readySent = true
        notify("READY=1")
    }
    if let path = options.readyWhen, !readySent, access(path, F_OK) == 0 {
        readySent = true
        notify("READY=1")
    }
    if let every = watchdogEvery, !hung, t >= nextWatchdog {
        notify("WATCHDOG=1")
        nextWatchdog = t + every
    }
    if let every = options.printEvery, t >= nextPrint {
        say(options.message)
        nextPrint = t + every
    }
    if options.growBytesPerSecond > 0 {
        let due = options.growBytesPerSecond * (t - lastGrow)
        if due >= 65536 {
            let size = Int(due)
            if let p = malloc(size) {
                memset(p, 1, size)
                grown.append(p)
                grownBytes += due
            }
            lastGrow = t
        }
    }
    // Serve health checks, waiting at most 10 ms so timers stay accurate.
    if listenFD >= 0 && !hung {
        var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, 10) > 0 {
            let client = accept(listenFD, nil, nil)
            if client >= 0 {
                var buffer = [UInt8](repeating: 0, count: 2048)
                var cpfd = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                if poll(&cpfd, 1, 200) > 0 { _ = read(client, &buffer, buffer.count) }
                let failing = options.failHealthAfter.map { t - start >= $0 } ?? false
                let body = failing ? "failing\n" : "ok\n"
                let status = failing ? "500 Internal Server Error" : "200 OK"
                let response =
                    "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }
    } else {
        usleep(10_000)
    }
}
