import Foundation
import Testing
import WardenCore
import WardenSupervisor

/// The supervisor's events keep the JSON keys that stored events, the API, the dashboard and
/// policy conditions (`payload.expected`) read, written out here by hand.
@Suite("The supervisor's events")
struct SupervisorEventsTests {
    func event(_ type: String, _ json: String) -> Event {
        Event(id: 1, time: Date(), type: type, source: "supervisor", subject: "api", payload: JSONValue.parse(json)!)
    }

    /// Each way a process ends has its own keys; absent ones are left out, not written as null.
    @Test func anExitKeepsItsWireKeys() throws {
        let cases: [(ServiceExited, String)] = [
            (
                ServiceExited(pid: 42, status: .exited(3), runtimeMs: 1500, expected: false),
                #"{"code":3,"expected":false,"pid":42,"runtime_ms":1500}"#
            ),
            (
                ServiceExited(pid: 42, status: .signaled(9, coreDumped: true), runtimeMs: 10, expected: true),
                #"{"core_dumped":true,"expected":true,"pid":42,"runtime_ms":10,"signal":"SIGKILL"}"#
            ),
            (
                ServiceExited(pid: 7, status: .unknown, expected: false, whileDown: true),
                #"{"expected":false,"pid":7,"unknown":true,"while_down":true}"#
            ),
        ]
        for (payload, json) in cases {
            #expect(payload.json.jsonText == json)
            #expect(event("service.exited", json).decode(ServiceExited.self) == payload)
        }
        #expect(event("service.started", cases[0].1).decode(ServiceExited.self) == nil, "another type")
    }

    @Test func theOtherPayloadsKeepTheirWireKeys() throws {
        let restarting = #"{"attempt":2,"delay_ms":200,"reason":"exit code 1"}"#
        let r = try #require(event("service.restarting", restarting).decode(ServiceRestarting.self))
        #expect(r.delayMs == 200 && r.attempt == 2 && r.json.jsonText == restarting)
        let daemon = #"{"pid":9,"previous_pid":8}"#
        let d = try #require(event("service.daemonized", daemon).decode(ServiceDaemonized.self))
        #expect(d.previousPid == 8 && d.json.jsonText == daemon)
        let missed = #"{"interval_ms":1000,"pid":9}"#
        let m = try #require(event("watchdog.missed", missed).decode(WatchdogMissed.self))
        #expect(m.intervalMs == 1000 && m.trigger == nil && m.json.jsonText == missed)
        let rebuilt = #"{"ok":true,"outputs":{"port":"8080"}}"#
        let b = try #require(event("service.rebuilt", rebuilt).decode(ServiceRebuilt.self))
        #expect(b.outputs == ["port": "8080"] && b.json.jsonText == rebuilt)
        let reloaded = #"{"added":["a"],"changed":["b"],"removed":[]}"#
        let w = try #require(event("warden.reloaded", reloaded).decode(WardenReloaded.self))
        #expect(w.changed == ["b"] && w.json.jsonText == reloaded)
        #expect(event("service.stopped", "{}").decode(ServiceStopped.self)?.json.jsonText == "{}")
    }
}
