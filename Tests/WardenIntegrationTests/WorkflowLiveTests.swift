import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The platform's pipeline through the real `warden` binary: an Alertmanager webhook, a model
/// that triages it (a chat-completions server on a real socket), a heal action on a supervised
/// service, the result in the store; seen through the API and the CLI; and a Warden killed
/// mid-run that resumes the run where it was.
@Suite("Workflows, live", .timeLimit(.minutes(4)))
struct WorkflowLiveTests {
    static let hookToken = "am-hook-token-Rw7"

    func fixture(chat: FakeChatServer, steps: String) -> Fixture {
        let f = Fixture("services: {}\n")
        f.write(yaml(f, chat: chat, steps: steps))
        return f
    }

    /// The spec: one service, the Alertmanager hook, the model, the `triage` workflow with
    /// `steps`, and `more` (other workflows) after it.
    func yaml(_ f: Fixture, chat: FakeChatServer, steps: String, more: String = "") -> String {
        let token = f.dir.write("am-token", Self.hookToken)
        return
            """
            services:
              api:
                run: [SAMPLE]
            healing: { cooldown: 1h }
            hooks:
              alertmanager:
                format: alertmanager
                verify: { token: file:\(token) }
            models:
              triage-model: { url: \(chat.url), model: test, timeout: 10s }
            workflows:
              triage:
                on: [{ hook: alertmanager }]
                steps:
            \(steps)
            \(more)
            """
    }

    /// An Alertmanager (version 4) webhook body with one firing alert, as Alertmanager sends it.
    static func alertmanagerBody(_ alertname: String, service: String) -> Data {
        let body: JSONValue = [
            "version": "4", "groupKey": .string("{}:{alertname=\"\(alertname)\"}"), "truncatedAlerts": 0,
            "status": "firing", "receiver": "warden", "groupLabels": ["alertname": .string(alertname)],
            "commonLabels": ["alertname": .string(alertname), "service": .string(service)],
            "commonAnnotations": ["summary": "p99 above 2s"], "externalURL": "http://alertmanager:9093",
            "alerts": [
                [
                    "status": "firing",
                    "labels": ["alertname": .string(alertname), "service": .string(service), "severity": "page"],
                    "annotations": ["summary": "p99 above 2s"], "startsAt": "2026-12-01T06:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": "c0ffee0123456789",
                ]
            ],
        ]
        return Data(body.jsonText.utf8)
    }

    func deliver(_ f: Fixture, _ body: Data) async throws -> JSONValue {
        let hook = WardenAPIClient(host: "127.0.0.1", port: f.port, token: Self.hookToken, timeout: .seconds(10))
        let response = try await hook.send("POST", "/v1/hooks/alertmanager", body: body)
        #expect(response.status == 202, "\(String(decoding: response.body, as: UTF8.self))")
        return JSONValue.parse(String(decoding: response.body, as: UTF8.self)) ?? .null
    }

    func run(_ f: Fixture, _ id: String) async throws -> JSONValue? {
        let response = try await f.client().send("GET", "/v1/runs/\(id)")
        guard response.status == 200 else { return nil }
        return JSONValue.parse(String(decoding: response.body, as: UTF8.self))
    }

    @Test func anAlertIsTriagedByAModelHealedAndTheResultStored() async throws {
        let chat = FakeChatServer(content: #"{"action": "restart", "reason": "latency after deploy"}"#)
        let f = fixture(
            chat: chat,
            steps: """
                      classify:
                        llm:
                          model: triage-model
                          prompt: "{{event.subject}} on {{event.payload.labels.service}}: {{event.payload.annotations.summary}}"
                          schema: { type: object, required: [action], properties: { action: { enum: [restart, notify] } } }
                      restart:
                        needs: [classify]
                        when: "steps.classify.output.action == 'restart'"
                        heal: { restart: "{{event.payload.labels.service}}" }
                      record:
                        needs: [restart]
                        store: { record: { alert: "{{event.subject}}", action: "{{steps.classify.output.action}}", state: "{{steps.restart.output.state}}" } }
                """
        )
        let w = try f.start()
        let before = try await f.waitRunning(["api"])
        let answer = try await deliver(f, Self.alertmanagerBody("HighLatency", service: "api"))
        let id = try #require(answer["runs"]?.arrayValue?.first?.stringValue)
        // A redelivery of the same body starts nothing new.
        let again = try await deliver(f, Self.alertmanagerBody("HighLatency", service: "api"))
        #expect(again["runs"]?.arrayValue?.first?.stringValue == id)
        try await eventually("the run succeeds", timeout: .seconds(60)) {
            try await run(f, id)?["status"]?.stringValue == "succeeded"
        }
        let done = try #require(try await run(f, id))
        #expect(done["result"]?["alert"] == "HighLatency" && done["result"]?["action"] == "restart")
        #expect(done["steps"]?["classify"]?["input"]?["prompt"] == "HighLatency on api: p99 above 2s")
        #expect(done["steps"]?["classify"]?["detail"]?["endpoint"] == "triage-model")
        #expect(done["steps"]?["restart"]?["output"]?["service"] == "api")
        // The service really was restarted: a new process.
        let after = try await f.waitRunning(["api"])
        #expect(after["api"] != before["api"])
        #expect(done["steps"]?["restart"]?["output"]?["outcome"] == "restarted")
        // A workflow acts through the healing engine, under its guards: another alert within
        // the hour's cooldown restarts nothing, and its run says why.
        let second = try await deliver(f, Self.alertmanagerBody("ErrorRate", service: "api"))
        let secondID = try #require(second["runs"]?.arrayValue?.first?.stringValue)
        #expect(secondID != id)
        try await eventually("the second run ends", timeout: .seconds(60)) {
            try await run(f, secondID)?["status"]?.stringValue == "failed"
        }
        let refused = try #require(try await run(f, secondID))
        let why = refused["steps"]?["restart"]?["error"]?.stringValue ?? ""
        #expect(why.contains("cooling down"), "\(refused)")
        #expect(try await f.waitRunning(["api"])["api"] == after["api"], "not restarted again")
        // The CLI shows the same.
        let list = try await warden("runs", "-c", f.config, "--json")
        let rows = JSONValue.parse(list.stdout)?.arrayValue ?? []
        #expect(rows.count == 2)
        #expect(
            rows.last?["status"] == "succeeded" && rows.last?["steps"]?["record"] == "succeeded",
            "newest first: the refused run, then this one"
        )
        let shown = try await warden("run-show", id, "-c", f.config)
        #expect(shown.stdout.contains("classify: succeeded") && shown.stdout.contains("restart: succeeded"))
        #expect(shown.stdout.contains("\"action\":\"restart\""))
        #expect(try await w.stop() == .exited(0))
        // Stopped, the CLI reads the store.
        let offline = try await warden("run-show", id, "-c", f.config, "--json")
        #expect(JSONValue.parse(offline.stdout)?["status"] == "succeeded")
    }

    @Test func aWardenKilledMidRunResumesTheRunAtTheStepItWasIn() async throws {
        let chat = FakeChatServer(content: #"{"action": "notify"}"#, delay: 60)
        let marksDir = TempDir("flow-marks")
        let marks = marksDir.file("marks")
        let f = fixture(
            chat: chat,
            steps: """
                      first: { exec: [sh, -c, "echo first >> \(marks)"] }
                      classify:
                        needs: [first]
                        llm: { model: triage-model, prompt: "{{event.subject}}" }
                      last:
                        needs: [classify]
                        exec: [sh, -c, "echo last >> \(marks)"]
                """
        )
        let first = try f.start()
        _ = try await f.waitRunning(["api"])
        let answer = try await deliver(f, Self.alertmanagerBody("DiskFull", service: "db"))
        let id = try #require(answer["runs"]?.arrayValue?.first?.stringValue)
        try await eventually("the model step is in flight", timeout: .seconds(30)) {
            try await run(f, id)?["steps"]?["classify"]?["status"] == "running"
        }
        first.signal(SIGKILL)
        _ = try await first.wait()
        chat.answer.withLock { $0.delay = 0 }
        let second = try f.start()
        try await eventually("the run resumes and succeeds", timeout: .seconds(60)) {
            try await run(f, id)?["status"]?.stringValue == "succeeded"
        }
        let done = try #require(try await run(f, id))
        #expect(done["steps"]?["first"]?["attempts"] == 1, "the step done before the kill is not run again")
        #expect(done["steps"]?["classify"]?["attempts"] == 2)
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "first\nlast\n")
        #expect(try await second.stop() == .exited(0))
    }

    /// A Warden whose `triage` workflow asks a person (one `approve` step), started, with its
    /// API client (and the model server its spec names, kept alive by the caller).
    func startAsking() async throws -> (FakeChatServer, Fixture, WardenProcess, WardenAPIClient) {
        let chat = FakeChatServer(content: #"{"action": "notify"}"#)
        let f = fixture(chat: chat, steps: "          ask: { approve: \"go?\" }\n")
        let w = try f.start()
        _ = try await f.waitRunning(["api"])
        return (chat, f, w, try f.client())
    }

    @Test func badRunRequestsGetAClearErrorAndChangeNothing() async throws {
        let (chat, f, w, api) = try await startAsking()
        defer { withExtendedLifetime(chat) {} }
        func expect(_ method: String, _ path: String, _ body: String?, _ status: Int, field: String?) async throws {
            let r = try await api.send(method, path, body: body.map { Data($0.utf8) })
            let error = JSONValue.parse(String(decoding: r.body, as: UTF8.self))?["error"]
            #expect(
                r.status == status,
                "\(method) \(path): \(r.status) \(String(decoding: r.body.prefix(300), as: UTF8.self))"
            )
            if let field { #expect(error?["field"]?.stringValue == field, "\(path): \(error?.jsonText ?? "no error")") }
        }
        try await expect("GET", "/v1/runs?status=exploded", nil, 400, field: "status")
        try await expect("GET", "/v1/runs?limit=0", nil, 400, field: "limit")
        try await expect("GET", "/v1/runs?limit=99999999999999999999", nil, 400, field: "limit")
        try await expect("GET", "/v1/runs?workflow=nope", nil, 400, field: "workflow")
        try await expect("GET", "/v1/runs/" + String(repeating: "x", count: 3000), nil, 404, field: nil)
        try await expect("POST", "/v1/workflows/nope/runs", "{}", 404, field: nil)
        try await expect("POST", "/v1/workflows/triage/runs", "[1, 2]", 400, field: "body")
        let deep = String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000)
        try await expect("POST", "/v1/workflows/triage/runs", deep, 400, field: "body")
        try await expect("POST", "/v1/runs/run-999/steps/ask/approve", nil, 404, field: nil)
        // A real run waiting on its approval: hostile answers are refused, the run stays waiting.
        let started = try await api.send("POST", "/v1/workflows/triage/runs", body: Data(#"{"x": 1}"#.utf8))
        let id = try #require(JSONValue.parse(String(decoding: started.body, as: UTF8.self))?["run"]?.stringValue)
        try await eventually("the run waits") { try await run(f, id)?["status"] == "waiting" }
        let long = "{\"comment\": \"" + String(repeating: "y", count: 3000) + "\"}"
        try await expect("POST", "/v1/runs/\(id)/steps/ask/approve", long, 400, field: "comment")
        try await expect("POST", "/v1/runs/\(id)/steps/ask/approve", #"{"by": "someone else"}"#, 400, field: "by")
        try await expect("POST", "/v1/runs/\(id)/steps/ask/approve", #"{"comment": 5}"#, 400, field: "comment")
        try await expect("POST", "/v1/runs/\(id)/steps/nope/approve", nil, 409, field: "step")
        #expect(try await run(f, id)?["status"] == "waiting", "nothing changed")
        try await expect("POST", "/v1/runs/\(id)/steps/ask/approve", #"{"comment": "ok"}"#, 200, field: nil)
        try await expect("POST", "/v1/runs/\(id)/steps/ask/approve", nil, 409, field: "step")
        try await eventually("the run succeeds") { try await run(f, id)?["status"] == "succeeded" }
        #expect(try await w.stop() == .exited(0))
    }

    /// A reloaded spec (SIGHUP) brings its workflows in: a new workflow can be started, and a run
    /// waiting for a person goes on with the steps its workflow has now.
    @Test func aReloadedSpecBringsNewWorkflowsAndARunGoesOnWithTheNewSteps() async throws {
        let (chat, f, w, api) = try await startAsking()
        defer { withExtendedLifetime(chat) {} }
        let started = try await api.send("POST", "/v1/workflows/triage/runs", body: Data("{}".utf8))
        let id = try #require(JSONValue.parse(String(decoding: started.body, as: UTF8.self))?["run"]?.stringValue)
        try await eventually("the run waits") { try await run(f, id)?["status"] == "waiting" }
        #expect(try await api.send("POST", "/v1/workflows/nightly/runs", body: Data("{}".utf8)).status == 404)

        f.write(
            yaml(
                f,
                chat: chat,
                steps: """
                          ask: { approve: "go?" }
                          after:
                            needs: [ask]
                            store: { record: { went_on: "yes" } }
                    """,
                more: """
                      nightly:
                        on: [{ hook: alertmanager }]
                        steps:
                          only: { store: { record: { nightly: "ran" } } }
                    """
            )
        )
        w.signal(SIGHUP)
        _ = try await f.waitFor(EventType.wardenReloaded)
        let nightly = try await api.send("POST", "/v1/workflows/nightly/runs", body: Data("{}".utf8))
        #expect(nightly.status == 202, "\(String(decoding: nightly.body, as: UTF8.self))")
        let second = try #require(JSONValue.parse(String(decoding: nightly.body, as: UTF8.self))?["run"]?.stringValue)
        try await eventually("the new workflow's run succeeds") { try await run(f, second)?["status"] == "succeeded" }
        #expect(try await run(f, second)?["result"]?["nightly"] == "ran")

        #expect(try await api.send("POST", "/v1/runs/\(id)/steps/ask/approve", body: nil).status == 200)
        try await eventually("the waiting run succeeds") { try await run(f, id)?["status"] == "succeeded" }
        #expect(try await run(f, id)?["result"]?["went_on"] == "yes", "the step added by the reload ran")
        #expect(try await w.stop() == .exited(0))
    }
}
