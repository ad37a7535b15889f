import Foundation
import Synchronization
import Testing
import WardenDefense
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `tail -F` with real files: appends, rotation by rename, truncation, restarts.
@Suite("Log following", .timeLimit(.minutes(1)))
struct FollowerTests {
    final class Seen: Sendable {
        let lines = Mutex<[String]>([])
        let position = Mutex<LogFollower.Position?>(nil)
        var all: [String] { lines.withLock { $0 } }
    }

    func follow(_ path: String, fromStart: Bool = false, saved: LogFollower.Position? = nil) -> (LogFollower, Seen) {
        let seen = Seen()
        let f = LogFollower(
            path: path,
            fromStart: fromStart,
            saved: saved,
            onLine: { line in seen.lines.withLock { $0.append(String(decoding: line, as: UTF8.self)) } },
            onPosition: { p in seen.position.withLock { $0 = p } }
        )
        f.start()
        return (f, seen)
    }

    func append(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    @Test func startsAtTheEndAndFollowsAppends() async throws {
        let dir = TempDir("warden-follow")
        let path = dir.write("auth.log", "old 1\nold 2\n")
        let (f, seen) = follow(path)
        try await Task.sleep(for: .milliseconds(100))
        append(path, "new 1\nnew ")
        append(path, "2\n")
        try await eventually("two new lines") { seen.all.count == 2 }
        #expect(seen.all == ["new 1", "new 2"], "a line written in two pieces is one line")
        f.stop()
    }

    @Test func followsRotationByRenameWithoutLosingTheOldFilesTail() async throws {
        let dir = TempDir("warden-follow")
        let path = dir.write("auth.log", "")
        let (f, seen) = follow(path)
        try await Task.sleep(for: .milliseconds(100))
        append(path, "a\n")
        try await eventually("a") { seen.all == ["a"] }
        // logrotate: the last lines land in the old file just before it is renamed away.
        append(path, "b\n")
        rename(path, path + ".1")
        append(path, "c\n")
        try await eventually("all three") { seen.all.count >= 3 }
        #expect(seen.all == ["a", "b", "c"])
        f.stop()
    }

    @Test func followsTruncationInPlace() async throws {
        let dir = TempDir("warden-follow")
        let path = dir.write("access.log", "")
        let (f, seen) = follow(path)
        try await Task.sleep(for: .milliseconds(100))
        append(path, "first line that is long\n")
        try await eventually("first") { seen.all.count == 1 }
        truncate(path, 0)
        try await Task.sleep(for: .milliseconds(200))
        append(path, "after\n")
        try await eventually("after") { seen.all.count == 2 }
        #expect(seen.all.last == "after")
        f.stop()
    }

    @Test func aRestartNeverReadsALineTwice() async throws {
        let dir = TempDir("warden-follow")
        let path = dir.write("auth.log", "")
        var (f, seen) = follow(path)
        try await Task.sleep(for: .milliseconds(100))
        append(path, "one\ntwo\n")
        try await eventually("two lines") { seen.all.count == 2 }
        f.stop()
        let saved = try #require(seen.position.withLock { $0 })
        // Written while Warden was down: read once, by the next follower.
        append(path, "three\n")
        (f, seen) = follow(path, fromStart: true, saved: saved)
        try await eventually("three") { seen.all.count == 1 }
        append(path, "four\n")
        try await eventually("four") { seen.all.count == 2 }
        #expect(seen.all == ["three", "four"])
        f.stop()
        // Rotated while Warden was down: the new file is read from its start.
        let saved2 = try #require(seen.position.withLock { $0 })
        rename(path, path + ".1")
        append(path, "five\n")
        (f, seen) = follow(path, saved: saved2)
        try await eventually("five") { seen.all.count == 1 }
        #expect(seen.all == ["five"])
        f.stop()
    }

    @Test func aFileThatAppearsLaterIsFollowed() async throws {
        let dir = TempDir("warden-follow")
        let path = dir.file("later.log")
        let (f, seen) = follow(path)
        try await Task.sleep(for: .milliseconds(100))
        append(path, "hello\n")
        try await eventually("hello") { seen.all == ["hello"] }
        f.stop()
    }
}
