import Foundation
import Testing
import WardenCore
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Warden under systemd: the unit `warden install` writes (checked by systemd's own verifier), and
/// the sd_notify messages Warden sends to whatever runs it (a notify socket of the test's own, as
/// systemd would hold).
@Suite("Warden under systemd", .timeLimit(.minutes(2)))
struct SystemdTests {
    @Test func installWritesAUnitSystemdAccepts() async throws {
        let f = Fixture("services:\n  s:\n    run: [SAMPLE]\n")
        let printed = try await warden("install", "--print", "-c", f.config)
        #expect(printed.exitCode == 0, "\(printed.stderr)")
        let unit = printed.stdout
        for line in [
            "Type=notify", "Restart=always", "WatchdogSec=30s", "KillMode=process", "Delegate=yes",
            "ReadWritePaths=\"\(f.stateDir)\"",
        ] {
            #expect(unit.contains("\n\(line)\n"), "\(line) in\n\(unit)")
        }
        let exec = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        #expect(exec.hasSuffix(" run -c \"\(f.config)\""), "\(exec)")
        #expect(exec.hasPrefix("ExecStart=\"/"), "an absolute path to the binary: \(exec)")
        // systemd's own verifier says nothing about it (and does about a broken one).
        let analyze = try #require(
            which("systemd-analyze"),
            "systemd-analyze is not installed (apt-get install systemd)"
        )
        let file = f.dir.write("warden.service", unit)
        let verified = try await runCommand(analyze, ["verify", file])
        #expect(verified.stdout + verified.stderr == "", "\(verified.stderr)")
        let broken = f.dir.write("broken.service", unit.replacingOccurrences(of: "Type=notify", with: "Type=nonsense"))
        let refused = try await runCommand(analyze, ["verify", broken])
        #expect(refused.stderr.contains("nonsense"), "the verifier checks: \(refused.stderr)")
        // Written where asked; a spec with problems writes nothing.
        let dir = f.dir.file("units")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let written = try await warden("install", "-c", f.config, "--unit-dir", dir)
        #expect(written.exitCode == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: dir + "/warden.service", encoding: .utf8) == unit)
        try "services: { s: { run: 5 } }\n".write(toFile: f.config, atomically: true, encoding: .utf8)
        let bad = try await warden("install", "-c", f.config, "--unit-dir", dir + "/x")
        #expect(bad.exitCode == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/x/warden.service"))
    }

    @Test func wardenTellsItsManagerItIsReadyFeedsTheWatchdogAndSaysWhenItStops() async throws {
        let f = Fixture("services:\n  s:\n    run: [SAMPLE]\n")
        let path = f.dir.file("notify.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = path
        environment["WATCHDOG_USEC"] = "400000"
        let log = open(f.dir.file("warden.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var request = SpawnRequest(
            executable: Binaries.warden,
            arguments: [Binaries.warden, "run", "-c", f.config],
            environment: environment
        )
        request.stdout = log
        request.stderr = log
        let w = try ChildProcess.spawn(request)
        close(log)
        defer { w.signalGroup(SIGKILL) }
        func next() async throws -> String {
            try await blockingWork { () throws -> String in
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { throw SystemError("recv", errno: errno) }
                return String(decoding: buffer[..<n], as: UTF8.self)
            }
        }
        let ready = try await next()
        #expect(ready.contains("READY=1"), "\(ready)")
        #expect(ready.contains("STATUS=supervising 1 of 1 services"), "\(ready)")
        #expect(ready.contains("MAINPID=\(w.pid)"), "\(ready)")
        // The service is running by then.
        #expect(try await f.status().first?.state == "running")
        #expect(try await next() == "WATCHDOG=1")
        #expect(try await next() == "WATCHDOG=1")
        _ = kill(w.pid, SIGTERM)
        var last = ""
        while !last.hasPrefix("STOPPING=1") { last = try await next() }
        #expect(last.contains("STATUS=stopping"))
        #expect(await w.exit(within: .seconds(60)) == .exited(0))
    }
}
