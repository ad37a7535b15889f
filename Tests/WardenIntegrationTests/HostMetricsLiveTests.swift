import Foundation
import Testing
import WardenCore
import WardenTestSupport

/// `stats: { host: true }`: the node's metrics recorded as node_exporter names them, queryable.
@Suite("Host metrics, live", .timeLimit(.minutes(2)))
struct HostMetricsLiveTests {
    @Test func theNodesMetricsAreRecordedUnderNodeExporterNames() async throws {
        let f = Fixture("services: {}\n")
        try """
        state_dir: \(f.stateDir)
        stats: { every: 200ms, host: true }
        api: { listen: 127.0.0.1:\(f.port) }
        services:
          s:
            run: [\(Binaries.sample)]
        """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        let total =
            Double(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }!.split(separator: " ")[1])! * 1024
        var answer: JSONValue?
        try await eventually("node_memory_MemTotal_bytes is stored") {
            let r = try await f.client().send("GET", "/v1/series/node_memory_MemTotal_bytes?since=1m&step=1m")
            answer = JSONValue.parse(String(decoding: r.body, as: UTF8.self))
            return !(answer?["series"]?.arrayValue?.isEmpty ?? true)
        }
        let last = answer?["series"]?.arrayValue?.first?["points"]?.arrayValue?.last?["last"]?.doubleValue
        #expect(last == total)
        // Counters grow: the loopback interface's received bytes, CPU 0's idle seconds.
        let series = try await f.client().send("GET", "/v1/series?prefix=node_&limit=10000")
        let names = Set(
            (JSONValue.parse(String(decoding: series.body, as: UTF8.self))?["series"]?.arrayValue ?? []).compactMap {
                $0["name"]?.stringValue
            }
        )
        for name in [
            "node_cpu_seconds_total", "node_load1", "node_network_receive_bytes_total", "node_filesystem_size_bytes",
        ] {
            #expect(names.contains(name), "\(names.sorted())")
        }
        #expect(try await w.stop() == .exited(0))
    }
}
