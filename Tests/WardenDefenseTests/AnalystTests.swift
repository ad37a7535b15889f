import Foundation
import Synchronization
import Testing
import WardenCore
import WardenDefense
import WardenHTTP
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("Analyst", .timeLimit(.minutes(1)))
struct AnalystTests {
    let threat = Threat(
        address: IPAddress("203.0.113.5")!,
        score: 0.6,
        scenarios: ["ssh-probing"],
        evidence: ["sshd[1]: Connection closed by 203.0.113.5 port 3 [preauth]"],
        atThreshold: false
    )

    func analyst(_ server: FakeChatServer, timeout: Duration = .seconds(2)) -> Analyst {
        var spec = AnalystSpec(url: "http://127.0.0.1:\(server.port)/v1", model: "llama3.2")
        spec.timeout = timeout
        return Analyst(spec, transport: AsyncHTTPTransport.shared)!
    }

    @Test func aVerdictMovesTheScoreWithinBounds() async throws {
        let server = FakeChatServer(content: #"{"verdict": "malicious", "confidence": 0.9, "reason": "probing"}"#)
        let result = await analyst(server).ask(threat)
        let verdict = try result.get()
        #expect(verdict.verdict == "malicious")
        #expect(verdict.reason == "probing")
        #expect(abs(Analyst.adjust(0.6, by: verdict, threshold: 1) - 1.05) < 1e-9)
        // The request was a chat completion about this address.
        let request = try #require(server.requests.withLock { $0.first })
        #expect(request.hasPrefix("POST /v1/chat/completions"))
        let body = try #require(JSONValue.parse(String(request.split(separator: "\n\n", maxSplits: 1)[1])))
        #expect(body["model"]?.stringValue == "llama3.2")
        #expect(body["messages"]?.arrayValue?.last?["content"]?.stringValue?.contains("203.0.113.5") == true)
        let benign = Analyst.Verdict(verdict: "benign", confidence: 1, reason: "")
        #expect(Analyst.adjust(0.2, by: benign, threshold: 1) == 0, "never below zero")
    }

    @Test func aFencedAnswerIsReadToo() async throws {
        let server = FakeChatServer(
            content: "```json\n{\"verdict\": \"benign\", \"confidence\": 0.5, \"reason\": \"a scanner we run\"}\n```"
        )
        #expect(try await analyst(server).ask(threat).get().verdict == "benign")
    }

    @Test func garbageSlownessAndErrorsFallBackToTheRules() async throws {
        let garbage = FakeChatServer(content: "I think it is probably bad")
        guard case .failure(let e1) = await analyst(garbage).ask(threat) else {
            Issue.record("garbage accepted")
            return
        }
        #expect(e1.message.contains("not valid JSON"))
        let wrong = FakeChatServer(content: #"{"verdict": "evil", "confidence": 3}"#)
        guard case .failure = await analyst(wrong).ask(threat) else {
            Issue.record("an invalid verdict was accepted")
            return
        }
        // An answer a minute late: the call must give up long before (a margin no loaded machine
        // eats), and say why.
        let slow = FakeChatServer(content: #"{"verdict": "malicious", "confidence": 1}"#, delay: 60)
        let start = ContinuousClock.now
        guard case .failure(let e2) = await analyst(slow, timeout: .milliseconds(300)).ask(threat) else {
            Issue.record("a late answer was accepted")
            return
        }
        #expect(ContinuousClock.now - start < .seconds(20), "the timeout is strict")
        #expect(e2.message.contains("did not answer"))
        let failing = FakeChatServer(content: "", status: 503)
        guard case .failure(let e3) = await analyst(failing).ask(threat) else {
            Issue.record("an HTTP error was accepted")
            return
        }
        #expect(e3.message.contains("503"))
    }
}
