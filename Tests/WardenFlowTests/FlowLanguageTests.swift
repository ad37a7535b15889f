import Foundation
import Testing
import WardenCore
import WardenFlow
import WardenTestSupport

/// Templates, conditions and the schema check: what a workflow author writes in the spec.
@Suite("Flow language")
struct FlowLanguageTests {
    let context: JSONValue = [
        "event": [
            "subject": "api",
            "payload": ["alertname": "HighLatency", "value": 0.93, "alerts": [["labels": ["service": "db"]]]],
        ],
        "steps": [
            "triage": ["status": "succeeded", "output": ["action": "restart", "score": 7, "tags": ["a", "b"]]]
        ],
    ]

    func template(_ text: String) throws -> FlowTemplate { try FlowTemplate.parse(text).get() }
    func condition(_ text: String) throws -> FlowCondition { try FlowCondition.parse(text).get() }

    @Test func templatesFillPlaceholdersAndKeepTheTypeOfALonePlaceholder() throws {
        #expect(
            try template("{{event.payload.alertname}} on {{ event.subject }}").render(context) == "HighLatency on api"
        )
        #expect(try template("first: {{event.payload.alerts.0.labels.service}}").render(context) == "first: db")
        #expect(try template("{{steps.triage.output.score}}").value(context) == .int(7))
        #expect(try template("{{steps.triage.output.tags}}").value(context) == ["a", "b"])
        #expect(try template("score {{steps.triage.output.score}}").value(context) == "score 7")
        #expect(
            try template("[{{steps.missing.output}}]").render(context) == "[]",
            "a missing value renders as nothing"
        )
        let filled = FlowTemplate.fill(["a": "{{event.payload.value}}", "b": ["{{event.subject}}!"], "c": 3], context)
        #expect(filled == ["a": 0.93, "b": ["api!"], "c": 3])
    }

    @Test func badPlaceholdersAreRefusedWithWhy() {
        for text in ["{{event.payload", "{{ }}", "{{event..x}}", "{{event.pay load}}", "{{a.b}} {{$x}}"] {
            guard case .failure(let e) = FlowTemplate.parse(text) else {
                Issue.record("'\(text)' was accepted")
                continue
            }
            #expect(!e.message.isEmpty)
        }
        #expect(throws: FlowSyntaxError.self) { try FlowTemplate.parse(String(repeating: "x", count: 70_000)).get() }
    }

    @Test func conditionsCompareAndCombine() throws {
        #expect(try condition("steps.triage.output.action == 'restart'").evaluate(context))
        #expect(try !condition("steps.triage.output.action != \"restart\"").evaluate(context))
        #expect(try condition("steps.triage.output.score >= 7 && steps.triage.output.score < 7.5").evaluate(context))
        #expect(try condition("event.payload.value > 0.9").evaluate(context))
        #expect(try condition("steps.triage.output.score == 7.0").evaluate(context), "numbers compare by value")
        #expect(try condition("!(event.subject == 'db') && (false || event.payload.alertname)").evaluate(context))
        #expect(try condition("steps.nothing.output == null").evaluate(context), "a missing path is null")
        #expect(try !condition("steps.nothing.output").evaluate(context))
        #expect(try condition("event.subject < 'b'").evaluate(context), "strings compare by bytes")
        #expect(try !condition("event.subject > 3").evaluate(context), "a string and a number do not order")
        // && binds tighter than ||.
        #expect(try condition("true || false && false").evaluate(context))
        #expect(try !condition("(true || false) && false").evaluate(context))
    }

    @Test func malformedOrHostileConditionsAreRefused() {
        let bad = [
            "", "a ==", "(a == 1", "a == 'open", "a === b", "1x == 2", "a == b c", "a & b",
            String(repeating: "(", count: 40) + "a" + String(repeating: ")", count: 40),
            String(repeating: "!", count: 100) + "a",
            String(repeating: "a || ", count: 500) + "a",
        ]
        for text in bad {
            if case .success = FlowCondition.parse(text) { Issue.record("'\(text.prefix(40))' was accepted") }
        }
    }

    @Test func answersAreHeldToTheirSchema() throws {
        let schema: JSONValue = [
            "type": "object", "required": ["action", "severity"], "additionalProperties": false,
            "properties": [
                "action": ["enum": ["restart", "notify"]],
                "severity": ["type": "integer", "minimum": 1, "maximum": 5],
                "reason": ["type": "string", "maxLength": 20],
                "tags": ["type": "array", "items": ["type": "string"], "maxItems": 2],
            ],
        ]
        #expect(JSONSchemaCheck.unsupported(schema) == nil)
        #expect(JSONSchemaCheck.problem(["action": "restart", "severity": 3], schema) == nil)
        #expect(JSONSchemaCheck.problem(["action": "restart", "severity": 3.0, "tags": ["x"]], schema) == nil)
        let cases: [(JSONValue, String)] = [
            (["action": "restart"], "$.severity: required"),
            (["action": "reboot", "severity": 3], "$.action: expected one of"),
            (["action": "notify", "severity": 9], "$.severity: above the maximum"),
            (["action": "notify", "severity": 2.5], "$.severity: expected integer"),
            (["action": "notify", "severity": 2, "extra": 1], "$.extra: not allowed"),
            (["action": "notify", "severity": 2, "tags": ["a", 1]], "$.tags[1]: expected string"),
            (["action": "notify", "severity": 2, "tags": ["a", "b", "c"]], "$.tags: more than 2"),
            ("restart", "$: expected object"),
        ]
        for (value, expected) in cases {
            let problem = JSONSchemaCheck.problem(value, schema)
            #expect(problem?.hasPrefix(expected) == true, "\(value.jsonText): \(problem ?? "accepted")")
        }
        #expect(
            JSONSchemaCheck.unsupported(["type": "object", "patternProperties": [:]])?.contains("patternProperties")
                == true
        )
        #expect(JSONSchemaCheck.unsupported(["properties": ["a": ["$ref": "#/x"]]])?.contains("$ref") == true)
    }
}

/// The breaker and the planner: pure state machines, driven here by hand.
@Suite("Flow state machines")
struct FlowStateMachineTests {
    @Test func theBreakerOpensAfterFailuresLetsOneTrialThroughAndClosesOnSuccess() {
        var b = CircuitBreaker(failures: 3, cooldown: .seconds(30))
        let t0 = ContinuousClock.now
        var seen: [Bool] = []
        func ask(_ after: Int) { seen.append(b.allow(now: t0 + .seconds(after))) }
        for _ in 0..<2 {
            ask(0)
            b.record(success: false, now: t0)
        }
        #expect(!b.isOpen && seen == [true, true])
        b.record(success: true, now: t0)
        seen = []
        for _ in 0..<3 {
            ask(0)
            b.record(success: false, now: t0)
        }
        #expect(b.isOpen && seen == [true, true, true])
        seen = []
        ask(29)  // still open
        ask(31)  // half-open: one trial
        ask(31)  // only one
        #expect(seen == [false, true, false])
        b.record(success: false, now: t0 + .seconds(32))
        seen = []
        ask(61)  // the failed trial opened it again from then
        ask(63)
        b.record(success: true, now: t0 + .seconds(63))
        ask(63)
        ask(63)
        #expect(seen == [false, true, true, true])
    }

    func workflow() -> WorkflowSpec {
        let act = StepAction.wait(.seconds(1))
        return WorkflowSpec(
            name: "w",
            triggers: [.event(type: "x", subject: nil)],
            steps: [
                StepSpec(name: "a", action: act),
                StepSpec(name: "left", needs: ["a"], action: act),
                StepSpec(name: "right", needs: ["a"], action: act),
                StepSpec(name: "after-left", needs: ["left"], action: act),
                StepSpec(name: "join", needs: ["after-left", "right"], action: act),
            ]
        )
    }

    func run(_ statuses: [String: StepState.Status]) -> RunState {
        var r = RunState(id: "r", workflow: "w", trigger: [:], created: Date(), steps: workflow().steps.map(\.name))
        for (k, v) in statuses { r.steps[k]?.status = v }
        return r
    }

    @Test func theBranchNotTakenIsSkippedAndTheJoinRunsAfterTheOther() {
        let w = workflow()
        #expect(WorkflowPlan.next(w, run([:])) == .run(["a"]))
        #expect(WorkflowPlan.next(w, run(["a": .succeeded])) == .run(["left", "right"]))
        #expect(
            WorkflowPlan.next(w, run(["a": .succeeded, "left": .skipped, "right": .running])) == .skip(["after-left"])
        )
        #expect(
            WorkflowPlan.next(w, run(["a": .succeeded, "left": .skipped, "after-left": .skipped, "right": .succeeded]))
                == .run(["join"])
        )
        #expect(
            WorkflowPlan.next(w, run(["a": .succeeded, "left": .skipped, "after-left": .skipped, "right": .skipped]))
                == .skip(["join"])
        )
        #expect(WorkflowPlan.next(w, run(["a": .waiting])) == .waiting)
        #expect(
            WorkflowPlan.next(
                w,
                run([
                    "a": .succeeded, "left": .fallback, "after-left": .succeeded, "right": .skipped, "join": .succeeded,
                ])
            )
                == .finished(.succeeded, error: nil)
        )
        guard case .finished(.failed, let error?) = WorkflowPlan.next(w, run(["a": .succeeded, "left": .failed])) else {
            Issue.record("a failed step did not end the run")
            return
        }
        #expect(error.contains("'left'"))
    }
}
