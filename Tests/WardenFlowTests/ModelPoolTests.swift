import Foundation
import Testing
import WardenCore
import WardenFlow
import WardenHTTP
import WardenTestSupport

/// Model calls that hold up: schema checks, hedging, a second endpoint, the circuit breaker and
/// the concurrency limit, against chat-completions servers on real sockets.
@Suite("Model calls", .timeLimit(.minutes(2)))
struct ModelPoolTests {
    let call = LLMCall(
        model: "main",
        prompt: try! FlowTemplate.parse("hi").get(),
        schema: ["type": "object", "required": ["action"], "properties": ["action": ["enum": ["restart", "notify"]]]]
    )

    func pool(
        _ main: FakeChatServer,
        _ spare: FakeChatServer? = nil,
        configure: (inout ModelEndpointSpec) -> Void = { _ in }
    )
        -> ModelPool
    {
        var m = ModelEndpointSpec(name: "main", url: main.url, model: "a", timeout: .seconds(10))
        configure(&m)
        var models = ["main": m]
        if let spare {
            models["main"]?.fallback = "spare"
            models["spare"] = ModelEndpointSpec(name: "spare", url: spare.url, model: "b")
        }
        return ModelPool(models, transport: AsyncHTTPTransport.shared)
    }

    @Test func anAnswerIsCheckedAgainstTheSchemaAndItsCostRecorded() async throws {
        let good = FakeChatServer(content: "```json\n{\"action\": \"restart\"}\n```")
        let answer = try await pool(good).complete(call, system: "be brief", prompt: "alert").get()
        #expect(answer.output == ["action": "restart"] && answer.endpoint == "main" && !answer.hedged)
        #expect((answer.promptTokens ?? 0) > 0 && answer.completionTokens != nil)
        let request = try #require(good.requests.withLock { $0.first })
        let body = try #require(JSONValue.parse(String(request.split(separator: "\n\n", maxSplits: 1)[1])))
        #expect(body["response_format"]?["type"] == "json_schema")
        #expect(body["messages"]?.arrayValue?.map { $0["role"] } == ["system", "user"])
        let wrong = FakeChatServer(content: #"{"action": "reboot"}"#)
        guard case .failure(let f) = await pool(wrong).complete(call, system: nil, prompt: "x") else {
            Issue.record("an answer outside the schema was accepted")
            return
        }
        #expect(f.message.contains("does not match the schema: $.action"))
    }

    @Test func aSlowAnswerIsHedgedToTheSecondEndpointAndTheFirstGoodAnswerWins() async throws {
        let slow = FakeChatServer(content: #"{"action": "restart"}"#, delay: 20)
        let spare = FakeChatServer(content: #"{"action": "notify"}"#)
        let p = pool(slow, spare) { $0.hedgeAfter = .milliseconds(100) }
        let start = ContinuousClock.now
        let answer = try await p.complete(call, system: nil, prompt: "x").get()
        #expect(answer.endpoint == "spare" && answer.hedged && answer.output == ["action": "notify"])
        #expect(ContinuousClock.now - start < .seconds(15), "not held up by the slow endpoint")
    }

    @Test func aFailingEndpointOpensItsCircuitAndCallsGoToTheSpareWithoutTryingIt() async throws {
        let broken = FakeChatServer(content: "", status: 503)
        let spare = FakeChatServer(content: #"{"action": "notify"}"#)
        let p = pool(broken, spare) {
            $0.breakerFailures = 3
            $0.breakerCooldown = .seconds(600)
        }
        for _ in 0..<6 {
            let a = try await p.complete(call, system: nil, prompt: "x").get()
            #expect(a.endpoint == "spare")
        }
        #expect(broken.requests.withLock { $0.count } == 3, "after three failures the circuit is open")
        #expect(p.breakers()["main"] == true)
        // A refusal of one request (400) is not the endpoint's fault.
        let picky = FakeChatServer(content: "", status: 400)
        let q = pool(picky) { $0.breakerFailures = 1 }
        _ = await q.complete(call, system: nil, prompt: "x")
        _ = await q.complete(call, system: nil, prompt: "x")
        #expect(picky.requests.withLock { $0.count } == 2 && q.breakers()["main"] == false)
    }

    @Test func noMoreThanTheConcurrencyLimitIsInFlightAndTheRestWaitTheirTurn() async throws {
        let server = FakeChatServer(content: #"{"action": "notify"}"#, delay: 0.1)
        let p = pool(server) { $0.concurrency = 3 }
        let call = self.call
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<15 { group.addTask { (try? await p.complete(call, system: nil, prompt: "x").get()) != nil } }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 } && results.count == 15)
        #expect(server.inFlight.withLock { $0.most } == 3)
    }
}
