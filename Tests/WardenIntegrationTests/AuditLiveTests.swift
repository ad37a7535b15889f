import Foundation
import GRDB
import Testing
import WardenCore
import WardenHTTP
import WardenServer
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The audit trail of a real `warden run`: commands through the API become chained records,
/// shipped to a file as they happen; `warden audit verify` finds the chain whole, then names the
/// record someone edited in the database.
@Suite("Audit trail, live", .timeLimit(.minutes(2)))
struct AuditLiveTests {
    @Test func aRealWardensTrailVerifiesAndAnEditIsNamed() async throws {
        let f = Fixture("services:\n  s:\n    run: [SAMPLE]\n")
        let shipped = f.dir.file("audit.jsonl")
        f.write("audit: { file: \(shipped) }\nservices:\n  s:\n    run: [SAMPLE]\n")
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        #expect(try await warden("restart", "s", "-c", f.config).exitCode == 0)
        #expect(try await warden("restart", "nope", "-c", f.config).exitCode == 1)
        try await f.waitFor("audit.service.restart", "s")
        #expect(try await w.stop() == .exited(0))

        let lines = try String(contentsOfFile: shipped, encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { JSONValue.parse(String($0)) }
        #expect(records.count >= 2, "\(lines)")
        #expect(records.map { $0["seq"]?.intValue } == (1...Int64(records.count)).map { $0 })
        #expect(records.contains { $0["type"]?.stringValue == "audit.service.restart" })

        let whole = try await warden("audit", "verify", "-c", f.config, "--against", shipped)
        #expect(whole.exitCode == 0, "\(whole.stdout)\(whole.stderr)")
        #expect(whole.stdout.contains("the audit chain is whole: \(records.count) records"), "\(whole.stdout)")

        let db = try DatabaseQueue(path: f.stateDir + "/warden.db")
        try await db.write { try $0.execute(sql: "UPDATE audit_chain SET subject = 'other' WHERE seq = 1") }
        try db.close()
        let edited = try await warden("audit", "verify", "-c", f.config, "--against", shipped)
        #expect(edited.exitCode == 1)
        #expect(edited.stdout.hasPrefix("edited at record 1: its content does not match its hash"), "\(edited.stdout)")
        let json = try await warden("audit", "verify", "-c", f.config, "--json")
        #expect(JSONValue.parse(json.stdout)?["problems"]?.arrayValue?.first?["kind"]?.stringValue == "edited")
    }

    /// A secret the spec references is read at start and at each reload, and each read is an
    /// audit record naming the reference; the value itself is nowhere: not in the database file
    /// (WAL included), the log, the events, the status, the API's answers or the shipped trail.
    @Test func secretReadsAreAuditedAndTheValueIsNowhere() async throws {
        let planted = "planted-secret-7Qx9vZk2mW4rT8yL"
        setenv("WARDEN_TEST_PLANTED_TOKEN", planted, 1)
        let f = Fixture("services: {}\n")
        let shipped = f.dir.file("audit.jsonl")
        try """
        state_dir: \(f.stateDir)
        api: { listen: 127.0.0.1:\(f.port), tokens: [{ name: ops, role: operator, secret: env:WARDEN_TEST_PLANTED_TOKEN }] }
        audit: { file: \(shipped) }
        services:
          s:
            run: [\(Binaries.sample)]
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let ops = WardenAPIClient(host: "127.0.0.1", port: f.port, token: planted)
        #expect(try await ops.send("POST", "/v1/services/s/restart").status == 202)
        #expect(try await ops.send("POST", "/v1/services/nope/restart").status == 404)
        let wrong = WardenAPIClient(host: "127.0.0.1", port: f.port, token: planted + "x")
        #expect(try await wrong.send("GET", "/v1/services").status == 401)
        w.signal(SIGHUP)
        let reads = try await f.waitFor("audit.secret.read", "env:WARDEN_TEST_PLANTED_TOKEN", count: 2)
        #expect(reads.map { $0.payload["when"]?.stringValue } == ["start", "reload"])
        var answers = ""
        for path in ["/v1/services", "/v1/events?limit=1000", "/v1/services/s"] {
            answers += String(decoding: try await ops.send("GET", path).body, as: UTF8.self)
        }
        let status = try await warden("status", "-c", f.config, "--json")
        #expect(try await w.stop() == .exited(0))
        let events = try await warden("events", "-c", f.config, "--json", "--limit", "10000")
        #expect(events.stdout.contains("audit.secret.read") && events.stdout.contains("audit.service.restart"))
        var places: [(String, [UInt8])] = [
            ("the log", Array(w.output.utf8)), ("the events", Array(events.stdout.utf8)),
            ("the status", Array(status.stdout.utf8)), ("the API's answers", Array(answers.utf8)),
            ("the shipped trail", Array(((try? String(contentsOfFile: shipped, encoding: .utf8)) ?? "").utf8)),
        ]
        for name in try FileManager.default.contentsOfDirectory(atPath: f.stateDir) where name.hasPrefix("warden.db") {
            places.append((name, Array(try Data(contentsOf: URL(fileURLWithPath: f.stateDir + "/" + name)))))
        }
        #expect(places.count >= 6)
        for (place, bytes) in places {
            #expect(bytes.firstRange(of: Array(planted.utf8)) == nil, "the secret is in \(place)")
        }
        #expect(places[4].1.count > 0 && places[0].1.count > 0, "the places searched are not empty")
    }
}
