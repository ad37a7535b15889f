import Foundation
import Testing
import WardenCore
import WardenFlow
import WardenTestSupport

/// `workflows:` and `models:` as the spec loader reads them: a bad one names file, line,
/// column, key and what would be valid.
@Suite("Workflow spec")
struct FlowSpecTests {
    let loader = SpecLoader(environment: ["TOKEN": "s3cret"], sections: [FlowSection.self])

    func problems(_ yaml: String) -> [String] { loader.problems(yaml) }

    static let good = """
        services:
          api: { run: [/bin/true] }
        models:
          main: { url: http://127.0.0.1:1/v1, model: m, token: env:TOKEN, hedge_after: 2s, fallback: spare, concurrency: 4 }
          spare: { url: http://127.0.0.1:2/v1, model: m, breaker: { failures: 3, cooldown: 10s } }
        flow: { workers: 4 }
        workflows:
          triage:
            on: [alert.firing, { hook: am }, { event: incident.opened, subject: api }]
            timeout: 5m
            priority: 5
            steps:
              classify:
                llm: { model: main, prompt: "{{event.subject}}", schema: { type: object, required: [action] } }
                retries: 2
                fallback: { action: notify }
              heal:
                needs: [classify]
                when: "steps.classify.output.action == 'restart'"
                heal: { restart: api }
              record:
                needs: [heal]
                store: { record: { action: "{{steps.classify.output.action}}" } }
        """

    @Test func aCompleteSpecLoads() throws {
        let spec = try loader.parse(Self.good, file: "warden.yaml", baseDir: "/tmp")
        let w = try #require(spec.flow.workflows["triage"])
        #expect(w.steps.map(\.name) == ["classify", "heal", "record"])
        #expect(w.triggers.count == 3 && w.priority == 5 && w.timeout == .seconds(300))
        #expect(spec.flow.workers == 4)
        #expect(spec.flow.models["main"]?.token == Secret("s3cret"))
        #expect(spec.flow.models["main"]?.hedgeAfter == .seconds(2) && spec.flow.models["spare"]?.breakerFailures == 3)
        let e = Event(id: 1, time: Date(), type: "incident.opened", source: "heal", subject: "db", payload: [:])
        #expect(spec.flow.workflows(startedBy: e).isEmpty, "the incident trigger is about api only")
    }

    @Test func mistakesAreNamedWithTheirPlace() {
        let cases: [(String, String)] = [
            ("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { shout: hi }\n", "w.steps.a"),
            ("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { wait: 1s, publish: { type: x } }\n", "one thing"),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { wait: 1s, needs: [b] }\n      b: { wait: 1s, needs: [a] }\n",
                "cycle"
            ),
            ("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { wait: 1s, needs: [zz] }\n", "'zz' is not a step"),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { llm: { model: nope, prompt: hi } }\n",
                "not in models"
            ),
            ("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { wait: 1s, when: \"x ==\" }\n", "w.steps.a.when"),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { store: { record: { x: \"{{steps.b.output}}\" } } }\n      b: { wait: 1s }\n",
                "not among this step's needs"
            ),
            ("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { heal: { restart: ghost } }\n", "not a service"),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { publish: { type: audit.fake } }\n",
                "Warden's own"
            ),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { http: { url: \"ftp://x\" } }\n",
                "http:// or https://"
            ),
            ("workflows:\n  w:\n    steps:\n      a: { wait: 1s }\n", "on"),
            ("workflows:\n  W!:\n    on: [go]\n    steps:\n      a: { wait: 1s }\n", "workflow names"),
            ("models:\n  m: { url: http://x/v1, model: a, fallback: m }\n", "another model endpoint"),
            ("models:\n  m: { url: http://x/v1, model: a, token: env:MISSING }\n", "models.m.token"),
            (
                "workflows:\n  w:\n    on: [go]\n    steps:\n      a: { llm: { model: m, prompt: hi, schema: { $ref: x } } }\nmodels:\n  m: { url: http://x/v1, model: a }\n",
                "not supported"
            ),
        ]
        for (yaml, expected) in cases {
            let found = problems(yaml)
            #expect(found.contains { $0.contains(expected) }, "\(yaml): \(found)")
            #expect(found.allSatisfy { $0.hasPrefix("warden.yaml:") }, "\(found)")
        }
        // The place is exact: line and column of the offending node.
        let p = problems("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { wait: 1s, when: \"x ==\" }\n")
        #expect(p.first?.hasPrefix("warden.yaml:5:") == true, "\(p)")
    }

    @Test func hugeOrDeepWorkflowsAreRefused() {
        var steps = ""
        for i in 0..<150 { steps += "      s\(i): { wait: 1s }\n" }
        #expect(
            problems("workflows:\n  w:\n    on: [go]\n    steps:\n" + steps).contains {
                $0.contains("at most 100 steps")
            }
        )
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let p = problems("workflows:\n  w:\n    on: [go]\n    steps:\n      a: { store: { record: \(deep) } }\n")
        #expect(p.contains { $0.contains("16 levels") }, "\(p)")
    }
}
