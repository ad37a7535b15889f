import Foundation
import Testing
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The stats pass over real processes in sessions of their own (`setsid sh -c …`).
@Suite("Group usage sampler", .timeLimit(.minutes(1)))
struct GroupUsageSamplerTests {
    /// A shell in a new session (its pid is the session id) running `script`.
    final class Session {
        let pid: pid_t
        let dir: URL

        init(_ script: String, fifo: String? = nil) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("gus-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            // Made before the shell starts: the shell forks nothing the test does not count.
            if let fifo { #expect(mkfifo(dir.appendingPathComponent(fifo).path, 0o600) == 0) }
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            // A clean signal state (the test process may block SIGCHLD, which would keep the shell
            // from reaping), in a session of its own (POSIX_SPAWN_SETSID, not imported into Swift).
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attr, &none)
            var child = sigset_t()
            sigemptyset(&child)
            sigaddset(&child, SIGCHLD)
            posix_spawnattr_setsigdefault(&attr, &child)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) | 0x80)
            var argv: [UnsafeMutablePointer<CChar>?] = [String]([
                "/bin/sh", "-c", "cd '\(dir.path)' || exit 1\n\(script)",
            ]).map { strdup($0) }
            argv.append(nil)
            defer { for a in argv { free(a) } }
            var spawned: pid_t = 0
            let rc = posix_spawn(&spawned, "/bin/sh", nil, &attr, argv, environ)
            guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
            pid = spawned
        }

        func stop() {
            kill(-pid, SIGKILL)
            // Not a blocking waitpid: Warden's reaper may have reaped the shell already, and its
            // pid could be someone else's by then. A bounded look instead.
            var status: Int32 = 0
            for _ in 0..<200 {
                if waitpid(pid, &status, WNOHANG) != 0 { break }
                usleep(5000)
            }
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// Passes until `done` holds for the usage (the shell starts its children in its own time).
    func measure(
        _ sampler: GroupUsageSampler,
        _ groups: [pid_t: String],
        until done: ([String: GroupUsage]) -> Bool
    ) async throws -> [String: GroupUsage] {
        var usage = sampler.measure(groups: groups)
        let deadline = ContinuousClock.now + .seconds(20)
        while !done(usage) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            usage = sampler.measure(groups: groups)
        }
        return usage
    }

    @Test func membersAreCountedAndTheirFilesKeptOpenNewChildrenFoundAndExitedOnesDropped() async throws {
        let fifo = "go"
        let s = try Session("sleep 60 & read x < \(fifo); sleep 60 & wait", fifo: fifo)
        defer { s.stop() }
        // fullEvery is large: nothing below relies on a full pass.
        let sampler = GroupUsageSampler(fullEvery: 1_000_000)
        let groups = [s.pid: "svc"]
        var usage = try await measure(sampler, groups) { $0["svc"]?.processes == 2 }
        #expect(usage.keys.sorted() == ["svc"], "the test's own processes and the host's are not counted")
        #expect(usage["svc"]?.processes == 2, "the shell and its first sleep")
        #expect(usage["svc"]!.rss > 0)
        #expect(sampler.openFiles == 2)

        // A child started after the first passes is found.
        // Non-blocking, so that a shell that never reads fails the test instead of hanging it.
        var w: Int32 = -1
        let deadline = ContinuousClock.now + .seconds(20)
        while w < 0 && ContinuousClock.now < deadline {
            w = open(s.dir.appendingPathComponent(fifo).path, O_WRONLY | O_NONBLOCK)
            if w < 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        try #require(w >= 0, "the shell opens the fifo")
        _ = "x\n".withCString { write(w, $0, 2) }
        close(w)
        usage = try await measure(sampler, groups) { $0["svc"]?.processes == 3 }
        #expect(usage["svc"]?.processes == 3)
        #expect(sampler.openFiles == 3)

        // A member that exits is dropped, and its file closed.
        let sleeps = try children(of: s.pid)
        #expect(sleeps.count == 2)
        kill(sleeps[0], SIGKILL)
        usage = try await measure(sampler, groups) { $0["svc"]?.processes == 2 && sampler.openFiles == 2 }
        #expect(usage["svc"]?.processes == 2)
        #expect(sampler.openFiles == 2)
    }

    @Test func aServiceRegisteredAfterItsProcessesWereSeenIsCounted() async throws {
        let a = try Session("sleep 60 & wait")
        defer { a.stop() }
        let b = try Session("sleep 60 & wait")
        defer { b.stop() }
        let sampler = GroupUsageSampler(fullEvery: 1_000_000)
        let deadline = ContinuousClock.now + .seconds(20)
        while try children(of: b.pid).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try children(of: b.pid).count == 1)
        // b's processes are seen while b is not a known group yet (the stats pass can run between
        // a spawn and the supervisor recording the new group)…
        _ = try await measure(sampler, [a.pid: "a"]) { $0["a"]?.processes == 2 }
        // …and are counted once it is.
        let usage = try await measure(sampler, [a.pid: "a", b.pid: "b"]) { $0["b"]?.processes == 2 }
        #expect(usage["a"]?.processes == 2)
        #expect(usage["b"]?.processes == 2)
    }

    @Test func membersBeyondTheDescriptorCapAreStillCounted() async throws {
        let s = try Session("sleep 60 & sleep 60 & sleep 60 & wait")
        defer { s.stop() }
        let sampler = GroupUsageSampler(fullEvery: 1_000_000, maxOpen: 1)
        let usage = try await measure(sampler, [s.pid: "svc"]) { $0["svc"]?.processes == 4 }
        #expect(usage["svc"]?.processes == 4)
        #expect(sampler.openFiles == 1)
        // Passes with some members not open never take the quiet path (it would miss them).
        for _ in 0..<5 { #expect(sampler.measure(groups: [s.pid: "svc"])["svc"]?.processes == 4) }
        #expect(sampler.openFiles == 1)
    }

    @Test func noGroupsMeansNothingReadAndNothingKeptOpen() async throws {
        let s = try Session("sleep 60 & wait")
        defer { s.stop() }
        let sampler = GroupUsageSampler()
        _ = try await measure(sampler, [s.pid: "svc"]) { $0["svc"]?.processes == 2 }
        #expect(sampler.openFiles == 2)
        #expect(sampler.measure(groups: [:]).isEmpty)
        #expect(sampler.openFiles == 0)
    }

    @Test func aStatFileIsReadAgainThroughTheSameDescriptor() throws {
        let fd = ProcFS.openStat(getpid())
        #expect(fd >= 0)
        defer { close(fd) }
        let first = try #require(ProcFS.stat(fd: fd))
        // Burn some CPU so that the second read shows more.
        var x: UInt64 = 1
        let until = ContinuousClock.now + .milliseconds(120)
        while ContinuousClock.now < until { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        #expect(x != 0)
        let second = try #require(ProcFS.stat(fd: fd))
        #expect(first.pid == getpid() && second.pid == getpid())
        #expect(second.utime + second.stime > first.utime + first.stime)
    }

    /// The pids whose parent is `pid`.
    func children(of pid: pid_t) throws -> [pid_t] {
        ProcFS.allPids().filter { ProcFS.stat($0)?.ppid == pid }.sorted()
    }
}
