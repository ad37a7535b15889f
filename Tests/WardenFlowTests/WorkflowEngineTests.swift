import Foundation
import Testing
import WardenCore
import WardenStore
import WardenTestSupport

@testable import WardenFlow

/// Workflows run by the real engine and worker over a real SQLite file, their model steps
/// answered by a chat-completions server on a real socket.
@Suite("Workflow engine", .timeLimit(.minutes(3)))
struct WorkflowEngineTests {
    static let triage = """
        models:
          m: { url: CHAT, model: test, timeout: 5s }
        workflows:
          triage:
            on: [{ hook: test }]
            steps:
              classify:
                llm:
                  model: m
                  system: You triage alerts.
                  prompt: "Alert {{event.payload.alertname}} on {{event.subject}}"
                  schema: { type: object, required: [action], properties: { action: { enum: [restart, notify] } } }
              restart:
                needs: [classify]
                when: "steps.classify.output.action == 'restart'"
                publish: { type: triage.restart, subject: "{{event.subject}}", payload: { why: "{{event.payload.alertname}}" } }
              notify:
                needs: [classify]
                when: "steps.classify.output.action == 'notify'"
                http: { url: "CHAT/notify", body: { text: "{{event.payload.alertname}} needs a person" } }
              record:
                needs: [restart, notify]
                store: { record: { alert: "{{event.payload.alertname}}", action: "{{steps.classify.output.action}}" } }
              score:
                needs: [classify]
                store: { sample: triage.decisions, value: "1", labels: { workflow: triage } }
        """

    @Test func theModelChoosesTheBranchTheOtherIsSkippedAndTheResultIsStored() async throws {
        let chat = FakeChatServer(content: "")
        chat.rule.withLock {
            $0 = { body, _ in
                (body.contains("HighLatency") ? #"{"action": "restart"}"# : #"{"action": "notify"}"#, 0, 200)
            }
        }
        let h = try FlowHarness(Self.triage, chat: chat)
        h.startWorker()
        let first = try await h.deliver("alert.firing", subject: "api", payload: ["alertname": "HighLatency"])
        let second = try await h.deliver("alert.firing", subject: "db", payload: ["alertname": "DiskFull"])
        let a = try await h.settled(first[0])
        let b = try await h.settled(second[0])
        #expect(a.status == .succeeded && b.status == .succeeded)
        #expect(a.steps["restart"]?.status == .succeeded && a.steps["notify"]?.status == .skipped)
        #expect(b.steps["restart"]?.status == .skipped && b.steps["notify"]?.status == .succeeded)
        #expect(a.result == ["alert": "HighLatency", "action": "restart"])
        #expect(b.result == ["alert": "DiskFull", "action": "notify"])
        // The model call is recorded: what was asked, the answer, tokens and latency.
        let classify = try #require(a.steps["classify"])
        #expect(classify.input?["prompt"] == "Alert HighLatency on api")
        #expect(classify.detail?["endpoint"] == "m" && (classify.detail?["prompt_tokens"]?.intValue ?? 0) > 0)
        #expect(classify.detail?["latency_ms"]?.intValue != nil && classify.durationMs != nil)
        // The restart branch published its event; the notify branch really called out.
        let published = h.log.events("triage.restart")
        #expect(
            published.count == 1 && published.first?.subject == "api"
                && published.first?.payload["why"] == "HighLatency"
        )
        #expect(
            chat.requests.withLock { $0 }.contains {
                $0.hasPrefix("POST /v1/notify") && $0.contains("DiskFull needs a person")
            }
        )
        // The sample step wrote telemetry.
        #expect(try await h.store.series(prefix: "triage.decisions", limit: 5).count == 1)
        // Every run and its steps are in the store, listed newest first.
        #expect(try await h.store.runs(statuses: ["succeeded"], workflow: "triage", limit: 10).count == 2)
        await h.close()
    }

    /// The change that settles a run's last step ends the run too (one save less on every run);
    /// a step still pending or running, or a failure (the engine waits for the failed step's
    /// parallel siblings before it ends the run), leaves it to the engine.
    @Test func theLastStepToSettleEndsTheRunAFailureOrARunningSiblingDoesNot() throws {
        let h = try FlowHarness(Self.triage)
        let w = try #require(h.engine.flow.workflows["triage"])
        let t = Date(timeIntervalSince1970: 1_900_000_000)
        var run = RunState(id: "r", workflow: "triage", trigger: .null, created: t, steps: w.steps.map(\.name))
        for n in ["classify", "notify", "score"] { run.steps[n]?.status = .succeeded }
        run.steps["restart"]?.status = .skipped
        var pending = run
        pending.endIfDone(w, at: t)
        #expect(pending.status == .running && pending.finished == nil)
        run.steps["record"]?.status = .succeeded
        var done = run
        done.endIfDone(w, at: t)
        #expect(done.status == .succeeded && done.finished == t)
        var failing = run
        failing.steps["record"]?.status = .pending
        failing.steps["notify"]?.status = .running
        failing.steps["score"]?.status = .failed
        failing.endIfDone(w, at: t)
        #expect(failing.status == .running && failing.finished == nil && failing.steps["notify"]?.status == .running)
    }

    @Test func aRedeliveredWebhookStartsItsRunOnce() async throws {
        let chat = FakeChatServer(content: #"{"action": "notify"}"#)
        let h = try FlowHarness(Self.triage, chat: chat)
        let one = try await h.deliver("alert.firing", subject: "api", payload: ["alertname": "X"], key: "delivery-1")
        let again = try await h.deliver("alert.firing", subject: "api", payload: ["alertname": "X"], key: "delivery-1")
        #expect(one == again)
        h.startWorker()
        _ = try await h.settled(one[0])
        #expect(try await h.store.runs(statuses: nil, workflow: nil, limit: 10).count == 1)
        await h.close()
    }

    @Test func failedAttemptsAreRetriedAndAStepThatKeepsFailingFallsBack() async throws {
        let chat = FakeChatServer(content: "")
        chat.rule.withLock {
            $0 = { body, i in
                if body.contains("flaky") { return i < 2 ? ("", 0, 503) : (#"{"ok": true}"#, 0, 200) }
                return ("not json at all", 0, 200)
            }
        }
        let h = try FlowHarness(
            """
            models:
              m: { url: CHAT, model: test, timeout: 5s }
            workflows:
              w:
                on: [go]
                steps:
                  flaky:
                    llm: { model: m, prompt: flaky }
                    retries: 3
                    backoff: 10ms
                  broken:
                    needs: [flaky]
                    llm: { model: m, prompt: broken }
                    retries: 1
                    backoff: 10ms
                    fallback: { action: notify, by: fallback }
                  after:
                    needs: [broken]
                    when: "steps.broken.output.action == 'notify'"
                    store: { record: { from: "{{steps.broken.output.by}}" } }
            """,
            chat: chat
        )
        h.startWorker()
        let id = try await h.deliver("go", subject: "x")
        let run = try await h.settled(id[0])
        #expect(run.status == .succeeded)
        #expect(run.steps["flaky"]?.status == .succeeded && run.steps["flaky"]?.attempts == 3)
        #expect(run.steps["broken"]?.status == .fallback && run.steps["broken"]?.attempts == 2)
        #expect(run.steps["broken"]?.error?.contains("not JSON") == true)
        #expect(run.result == ["from": "fallback"])
        await h.close()
    }

    @Test func aStepThatHangsIsStoppedAtItsTimeoutAndFailsTheRun() async throws {
        let chat = FakeChatServer(content: #"{"a": 1}"#, delay: 30)
        let h = try FlowHarness(
            """
            models:
              m: { url: CHAT, model: test, timeout: 60s }
            workflows:
              w:
                on: [go]
                steps:
                  slow:
                    llm: { model: m, prompt: hi }
                    timeout: 300ms
                  never:
                    needs: [slow]
                    store: { record: { x: 1 } }
            """,
            chat: chat
        )
        h.startWorker()
        let id = try await h.deliver("go", subject: "x")
        let run = try await h.settled(id[0])
        #expect(run.status == .failed)
        #expect(run.steps["slow"]?.error?.contains("timed out after 300ms") == true)
        #expect(run.steps["never"]?.status == .pending)
        #expect(run.error?.contains("step 'slow' failed") == true)
        await h.close()
    }

    @Test func anApprovalHoldsTheRunWithoutAWorkerUntilAPersonAnswers() async throws {
        let h = try FlowHarness(
            """
            workflows:
              w:
                on: [go]
                steps:
                  ask:
                    approve: "Restart {{event.subject}}?"
                  act:
                    needs: [ask]
                    publish: { type: custom.acted, subject: "{{event.subject}}" }
            """
        )
        h.startWorker()
        let yes = try await h.deliver("go", subject: "api")[0]
        let no = try await h.deliver("go", subject: "db")[0]
        let waiting = try await h.settled(yes, "workflow.waiting")
        _ = try await h.settled(no, "workflow.waiting")
        #expect(waiting.status == .waiting && waiting.steps["ask"]?.input?["message"] == "Restart api?")
        // No job is held while it waits: the queue has only the jobs waiting for the deadline
        // (the worker completes its job just after the run says it waits).
        try await eventually("no job held") {
            try await h.store.jobs(states: [.leased], queue: nil, limit: 10).isEmpty
        }
        await #expect(throws: FlowFailure.self) {
            try await h.engine.approve(run: yes, step: "act", approved: true, by: "ops", comment: nil)
        }
        _ = try await h.engine.approve(run: yes, step: "ask", approved: true, by: "ops", comment: "go ahead")
        _ = try await h.engine.approve(run: no, step: "ask", approved: false, by: "ops", comment: "not now")
        let approved = try await h.settled(yes)
        let rejected = try await h.settled(no)
        #expect(approved.status == .succeeded && approved.steps["ask"]?.output?["by"] == "ops")
        #expect(h.log.events("custom.acted").map(\.subject) == ["api"])
        #expect(rejected.status == .failed && rejected.error?.contains("rejected by ops: not now") == true)
        await #expect(throws: FlowFailure.self) {
            try await h.engine.approve(run: yes, step: "ask", approved: true, by: "ops", comment: nil)
        }
        await h.close()
    }

    @Test func parallelBranchesRunAtOnceAndTheirJoinWaitsForBoth() async throws {
        let chat = FakeChatServer(content: #"{"ok": true}"#, delay: 0.5)
        let h = try FlowHarness(
            """
            models:
              m: { url: CHAT, model: test }
            workflows:
              w:
                on: [go]
                steps:
                  left: { llm: { model: m, prompt: left } }
                  right: { llm: { model: m, prompt: right } }
                  join:
                    needs: [left, right]
                    store: { record: { left: "{{steps.left.output.ok}}", right: "{{steps.right.output.ok}}" } }
            """,
            chat: chat
        )
        h.startWorker()
        let id = try await h.deliver("go", subject: "x")[0]
        let run = try await h.settled(id)
        #expect(run.result == ["left": true, "right": true])
        #expect(chat.inFlight.withLock { $0.most } == 2, "both branches were in flight together")
        let joinStart = try #require(run.steps["join"]?.started)
        #expect(joinStart >= (run.steps["left"]?.finished ?? .distantFuture))
        #expect(joinStart >= (run.steps["right"]?.finished ?? .distantFuture))
        await h.close()
    }

    @Test func aRunInterruptedMidStepResumesAtThatStepAndDoesNotRepeatWhatWasDone() async throws {
        let chat = FakeChatServer(content: #"{"ok": true}"#)
        let logDir = TempDir("flow-log")
        let h = try FlowHarness(
            """
            models:
              m: { url: CHAT, model: test }
            workflows:
              w:
                on: [go]
                steps:
                  first: { exec: [sh, -c, "echo first >> LOG"] }
                  slow:
                    needs: [first]
                    llm: { model: m, prompt: slow }
                  last:
                    needs: [slow]
                    exec: [sh, -c, "echo last >> LOG"]
            """.replacingOccurrences(of: "LOG", with: logDir.file("log")),
            chat: chat
        )
        let logFile = try #require(
            h.engine.flow.workflows["w"]?.steps.first.flatMap {
                if case .exec(let c) = $0.action { return c.run[2].components(separatedBy: ">> ").last }
                return nil
            }
        )
        chat.answer.withLock { $0.delay = 30 }
        h.startWorker()
        let id = try await h.deliver("go", subject: "x")[0]
        try await eventually("the slow step runs", timeout: .seconds(20)) {
            try await h.run(id)?.steps["slow"]?.status == .running
        }
        await h.stopWorkers()
        #expect(try await h.run(id)?.status == .running, "interrupted, not failed")
        chat.answer.withLock { $0.delay = 0 }
        h.startWorker()
        let run = try await h.settled(id)
        #expect(run.status == .succeeded)
        #expect(run.steps["first"]?.attempts == 1 && run.steps["slow"]?.attempts == 2)
        #expect(try String(contentsOfFile: logFile, encoding: .utf8) == "first\nlast\n")
        await h.close()
    }

    @Test func eventsFromInsideWardenStartRunsButAWorkflowsOwnEventsDoNotStartItAgain() async throws {
        let h = try FlowHarness(
            """
            workflows:
              w:
                on: [{ event: incident.opened, subject: api }, custom.loop]
                steps:
                  note: { publish: { type: custom.loop, subject: "{{event.subject}}" } }
            """
        )
        h.startWorker()
        h.bus.publish("incident.opened", source: "heal", subject: "db")
        h.bus.publish("incident.opened", source: "heal", subject: "api")
        try await h.log.wait(for: "workflow.finished")
        try await h.log.wait(for: "custom.loop")
        let runs = try await h.store.runs(statuses: nil, workflow: "w", limit: 10)
        #expect(runs.count == 1, "only the incident about api started a run, and its own event none")
        #expect(runs.first.flatMap(RunState.init)?.trigger["subject"] == "api")
        await h.close()
    }

    @Test func workflowsThatStartEachOtherStopAfterAChainOfEight() async throws {
        let h = try FlowHarness(
            """
            workflows:
              ping:
                on: [custom.pong, custom.start]
                steps:
                  send: { publish: { type: custom.ping, subject: x } }
              pong:
                on: [custom.ping]
                steps:
                  send: { publish: { type: custom.pong, subject: x } }
            """
        )
        h.startWorker()
        h.bus.publish("custom.start", source: "heal", subject: "x")
        try await eventually("a run fails for the chain") {
            try await h.store.runs(statuses: ["failed"], workflow: nil, limit: 10).count == 1
        }
        let failed = try #require(
            try await h.store.runs(statuses: ["failed"], workflow: nil, limit: 1).first.flatMap(RunState.init)
        )
        #expect(failed.steps["send"]?.error?.contains("8 runs in a row") == true)
        #expect(try await h.store.runs(statuses: ["succeeded"], workflow: nil, limit: 100).count == 8)
        #expect(h.log.events("custom.ping").count + h.log.events("custom.pong").count == 8)
        await h.close()
    }

    @Test func anEventRecordedButNotYetQueuedStartsItsRunAtTheNextStart() async throws {
        let h = try FlowHarness(
            """
            workflows:
              w:
                on: [incident.opened]
                steps:
                  note: { store: { record: { about: "{{event.subject}}" } } }
            """
        )
        // Recorded (as the recorder does) while no trigger was listening: Warden died before queueing.
        let lost = Event(id: 7, time: Date(), type: "incident.opened", source: "heal", subject: "api", payload: [:])
        let other = Event(
            id: 8,
            time: Date(),
            type: "service.started",
            source: "supervisor",
            subject: "api",
            payload: [:]
        )
        try await h.store.append([lost, other])
        let triggers = WorkflowTriggers(engine: h.engine, bus: h.bus, recorded: h.store, logger: .init(label: "test"))
        #expect(try await triggers.catchUpRecorded() == 1)
        #expect(try await triggers.catchUpRecorded() == 0, "queued once whatever the restarts")
        h.startWorker()
        try await eventually("the run succeeds") {
            try await h.store.runs(statuses: ["succeeded"], workflow: "w", limit: 5).count == 1
        }
        let run = try #require(
            try await h.store.runs(statuses: nil, workflow: "w", limit: 5).first.flatMap(RunState.init)
        )
        #expect(run.result == ["about": "api"])
        triggers.stop()
        await h.close()
    }

    @Test func aRunThatOutlivesItsTimeoutFailsEvenWhileWaiting() async throws {
        let h = try FlowHarness(
            """
            workflows:
              w:
                on: [go]
                timeout: 1s
                steps:
                  nap: { wait: 1h }
            """
        )
        h.startWorker()
        let id = try await h.deliver("go", subject: "x")[0]
        let run = try await h.settled(id)
        #expect(run.status == .failed && run.error?.contains("timed out after 1s") == true)
        #expect(run.steps["nap"]?.status == .failed)
        await h.close()
    }
}
