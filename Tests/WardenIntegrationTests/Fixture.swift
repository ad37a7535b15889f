import Foundation
import WardenCore
import WardenHTTP
import WardenServer
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A spec file and state directory for one test of the `warden` binary.
final class Fixture: Sendable {
    let dir: TempDir
    let config: String
    let stateDir: String
    /// The API's port.
    let port: Int

    init(_ yaml: String) {
        dir = TempDir("warden-it")
        port = freePort()
        stateDir = dir.file("state")
        config = dir.file("warden.yaml")
        write(yaml)
    }

    /// Replaces the spec (for reload tests); `SAMPLE` stands for the warden-sample binary.
    func write(_ yaml: String) {
        let text =
            "state_dir: \(stateDir)\nstats: { every: 200ms }\napi: { listen: 127.0.0.1:\(port) }\n"

            + yaml.replacingOccurrences(of: "SAMPLE", with: Binaries.sample)
        try! text.write(toFile: config, atomically: true, encoding: .utf8)
    }

    func start() throws -> WardenProcess { try WardenProcess(config: config) }

    /// A client of the running fixture's API with its local CLI token (admin).
    func client() throws -> WardenAPIClient {
        guard let token = LocalToken.read(in: stateDir + "/run") else {
            throw TimedOut(what: "the local CLI token of \(stateDir)", seen: [])
        }
        return WardenAPIClient(host: "127.0.0.1", port: port, token: token)
    }

    /// `warden status --json` for this fixture.
    func status() async throws -> [ServiceStatus] {
        let result = try await warden("status", "-c", config, "--json")
        guard result.exitCode == 0 else { throw TimedOut(what: "status: \(result.stderr)", seen: []) }
        return try JSONDecoder.iso.decode([ServiceStatus].self, from: Data(result.stdout.utf8))
    }

    /// `warden events --json` for this fixture (all stored events).
    func events(_ extra: String...) async throws -> [Event] {
        let result = try await runCommand(
            Binaries.warden,
            ["events", "-c", config, "--json", "--limit", "10000"] + extra
        )
        return try result.stdout.split(separator: "\n").map {
            try JSONDecoder.iso.decode(Event.self, from: Data($0.utf8))
        }
    }

    /// Waits until `count` events of `type` (about `subject`) are recorded.
    ///
    /// One `warden events --follow` process reads the stored events and then the live stream (or
    /// the store, while no Warden runs), so the wait ends when the event arrives, without
    /// starting a command per check. A follower that ends (a Warden that was starting up, or
    /// went away) is started again.
    @discardableResult
    func waitFor(
        _ type: String,
        _ subject: String? = nil,
        count: Int = 1,
        timeout: Duration = .seconds(40)
    ) async throws -> [Event] {
        var argv = [Binaries.warden, "events", "-c", config, "--json", "--follow", "--limit", "10000", "--type", type]
        if let subject { argv += ["--service", subject] }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let (fd, stop) = ChildProcess.streaming(argv) else {
                throw TimedOut(what: "\(count) × \(type): cannot start warden events", seen: [])
            }
            defer {
                stop()
                close(fd)
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // Each follower prints every stored match again: count what this one has seen.
            var found: [Event] = []
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            // A safety net for a follower that is slow to start on a loaded machine: every two
            // seconds, one plain query of the store.
            var nextCheck = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < deadline {
                if ContinuousClock.now >= nextCheck {
                    nextCheck = ContinuousClock.now + .seconds(2)
                    let stored = (try? await events()) ?? []
                    let matches = stored.filter { $0.type == type && (subject == nil || $0.subject == subject) }
                    if matches.count >= count { return matches }
                }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n == 0 { break }  // it ended: start another
                if n > 0 {
                    pending += buffer[0..<n]
                    while let nl = pending.firstIndex(of: 10) {
                        if let e = try? JSONDecoder.iso.decode(Event.self, from: Data(pending[..<nl])), e.type == type,
                            subject == nil || e.subject == subject
                        {
                            found.append(e)
                        }
                        pending.removeSubrange(...nl)
                    }
                    if found.count >= count { return found }
                    continue
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let seen = (try? await events().map { "\($0.type) \($0.subject)" }) ?? []
        throw TimedOut(what: "\(count) × \(type) \(subject ?? "")", seen: seen)
    }

    /// Waits until the running Warden answers its API with its local token (a spec without
    /// services has nothing else to wait for).
    func waitUp(timeout: Duration = .seconds(40)) async throws {
        try await eventually("Warden answers its API", timeout: timeout) {
            guard let client = try? self.client() else { return false }
            return (try? await client.send("GET", "/v1/services").status) == 200
        }
    }

    /// Waits until every listed service is running with a pid.
    func waitRunning(_ names: [String], timeout: Duration = .seconds(40)) async throws -> [String: Int32] {
        var pids: [String: Int32] = [:]
        try await eventually("\(names) running", timeout: timeout) {
            let status = (try? await self.status()) ?? []
            pids = Dictionary(
                uniqueKeysWithValues: status.compactMap { s in s.state == "running" ? s.pid.map { (s.name, $0) } : nil }
            )
            return names.allSatisfy { pids[$0] != nil }
        }
        return pids
    }
}

extension JSONDecoder {
    /// Dates as the CLI prints them.
    static var iso: JSONDecoder { APICoding.decoder() }
}
