import Foundation
import Synchronization
import WardenCore

/// The model endpoints of `models:`, each with its concurrency limit and circuit breaker.
///
/// A call goes to its endpoint unless that endpoint's circuit is open, then to its fallback.
/// With `hedge_after`, a call that has no answer in that time is sent again (to the fallback
/// when there is one) and the first good answer wins; the other is cancelled. Waiting for a
/// place under the concurrency limit does not count against a request's timeout.
public final class ModelPool: Sendable {
    final class Endpoint: Sendable {
        let spec: ModelEndpointSpec
        let limiter: AsyncLimiter
        let breaker: Mutex<CircuitBreaker>

        init(_ spec: ModelEndpointSpec) {
            self.spec = spec
            limiter = AsyncLimiter(limit: spec.concurrency)
            breaker = Mutex(CircuitBreaker(failures: spec.breakerFailures, cooldown: spec.breakerCooldown))
        }
    }

    let endpoints: [String: Endpoint]
    let transport: any HTTPTransport

    public init(_ models: [String: ModelEndpointSpec], transport: any HTTPTransport) {
        endpoints = models.mapValues(Endpoint.init)
        self.transport = transport
    }

    /// A good answer: its JSON, and what it cost.
    public struct Answer: Sendable, Hashable {
        public var output: JSONValue
        public var endpoint: String
        public var promptTokens: Int64?
        public var completionTokens: Int64?
        public var latencyMs: Int64
        /// Whether a second request was sent because the first was slow.
        public var hedged: Bool
        /// Requests that failed before this answer, with why.
        public var failures: [String]

        /// As recorded in a step's detail.
        public var detail: JSONValue {
            var o: [String: JSONValue] = [
                "endpoint": .string(endpoint), "latency_ms": .int(latencyMs), "hedged": .bool(hedged),
            ]
            if let p = promptTokens { o["prompt_tokens"] = .int(p) }
            if let c = completionTokens { o["completion_tokens"] = .int(c) }
            if !failures.isEmpty { o["failures"] = .array(failures.map { .string($0) }) }
            return .object(o)
        }
    }

    /// Asks `call.model` (and its fallback) for a JSON answer matching `call.schema`.
    ///
    /// - Returns: the answer, or why none came (every endpoint tried, with each one's reason).
    public func complete(_ call: LLMCall, system: String?, prompt: String) async -> Result<Answer, FlowFailure> {
        guard let first = endpoints[call.model] else {
            return .failure(FlowFailure("no model endpoint '\(call.model)'"))
        }
        var messages: [JSONValue] = []
        if let system { messages.append(["role": "system", "content": .string(system)]) }
        messages.append(["role": "user", "content": .string(prompt)])
        let start = ContinuousClock.now
        var failures: [String] = []
        var chain = [first]
        if let fb = first.spec.fallback, let e = endpoints[fb] { chain.append(e) }
        for (i, endpoint) in chain.enumerated() {
            let allowed = endpoint.breaker.withLock { $0.allow(now: .now) }
            guard allowed else {
                failures.append("\(endpoint.spec.name): circuit open")
                continue
            }
            let hedgeTo = i + 1 < chain.count ? chain[i + 1] : endpoint
            let outcome = await hedged(endpoint, hedgeTo: hedgeTo, call, messages)
            switch outcome {
            case .success(var answer):
                answer.latencyMs = Self.ms(ContinuousClock.now - start)
                answer.failures = failures + answer.failures
                return .success(answer)
            case .failure(let f):
                failures.append(f.message)
                if Task.isCancelled { break }
            }
        }
        return .failure(FlowFailure("no model answered: " + failures.joined(separator: "; ")))
    }

    /// One request to `endpoint`, and after `hedge_after` without an answer, one to `hedgeTo`.
    func hedged(
        _ endpoint: Endpoint,
        hedgeTo: Endpoint,
        _ call: LLMCall,
        _ messages: [JSONValue]
    ) async -> Result<Answer, FlowFailure> {
        guard let after = endpoint.spec.hedgeAfter else { return await request(endpoint, call, messages) }
        return await withTaskGroup(of: (Result<Answer, FlowFailure>, Bool).self) { group in
            group.addTask { (await self.request(endpoint, call, messages), false) }
            group.addTask {
                do { try await Task.sleep(for: after) } catch {
                    return (.failure(FlowFailure("hedge cancelled")), true)
                }
                return (await self.request(hedgeTo, call, messages), true)
            }
            var failures: [String] = []
            while let (result, wasHedge) = await group.next() {
                switch result {
                case .success(var answer):
                    group.cancelAll()
                    answer.hedged = wasHedge
                    answer.failures = failures
                    return .success(answer)
                case .failure(let f):
                    if f.message != "hedge cancelled" { failures.append(f.message) }
                }
            }
            return .failure(FlowFailure(failures.joined(separator: "; ")))
        }
    }

    /// One request under the endpoint's limit and timeout; the breaker learns how it went.
    func request(_ endpoint: Endpoint, _ call: LLMCall, _ messages: [JSONValue]) async -> Result<Answer, FlowFailure> {
        let spec = endpoint.spec
        var body: [String: JSONValue] = [
            "model": .string(spec.model), "messages": .array(messages), "temperature": .int(0), "stream": .bool(false),
        ]
        if let schema = call.schema {
            body["response_format"] = [
                "type": "json_schema", "json_schema": ["name": "answer", "schema": schema, "strict": .bool(false)],
            ]
        } else {
            body["response_format"] = ["type": "json_object"]
        }
        if let max = call.maxTokens { body["max_tokens"] = .int(Int64(max)) }
        let base = spec.url.hasSuffix("/") ? String(spec.url.dropLast()) : spec.url
        var request = OutboundRequest.postJSON(
            .object(body),
            to: base + "/chat/completions",
            timeout: spec.timeout,
            caFile: spec.caFile
        )
        request.maxResponse = 4 << 20
        // Its own limit, and room for the hedged requests beside it.
        request.connectionsPerHost = spec.concurrency * 2
        if let token = spec.token {
            request.headers.append(("authorization", "Bearer \(String(decoding: token.bytes, as: UTF8.self))"))
        }
        let response: OutboundResponse
        do {
            response = try await endpoint.limiter.run {
                do { return try await transport.send(request) } catch { throw error }
            }
        } catch let e as OutboundError {
            endpoint.breaker.withLock { $0.record(success: false, now: .now) }
            return .failure(FlowFailure("\(spec.name): \(e.message)"))
        } catch {
            return .failure(FlowFailure("\(spec.name): cancelled"))
        }
        guard response.status == 200 else {
            // A refusal of this request (4xx but 429) says nothing of the endpoint's health.
            let endpointFault = response.status >= 500 || response.status == 429
            endpoint.breaker.withLock { $0.record(success: !endpointFault, now: .now) }
            return .failure(FlowFailure("\(spec.name): HTTP \(response.status)"))
        }
        endpoint.breaker.withLock { $0.record(success: true, now: .now) }
        return Self.parse(response.body, call: call, endpoint: spec.name)
    }

    /// The answer's JSON out of a chat completion, checked against the call's schema.
    public static func parse(_ body: [UInt8], call: LLMCall, endpoint: String) -> Result<Answer, FlowFailure> {
        guard let answer = JSONValue.parse(bytes: body),
            let content = answer["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        else { return .failure(FlowFailure("\(endpoint): the answer is not a chat completion")) }
        var text = content.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("```") {
            text = text.split(separator: "\n").dropFirst().filter { !$0.hasPrefix("```") }.joined(separator: "\n")
        }
        guard let output = JSONValue.parse(text) else {
            return .failure(FlowFailure("\(endpoint): the answer is not JSON: \(text.prefix(200))"))
        }
        if let schema = call.schema, let problem = JSONSchemaCheck.problem(output, schema) {
            return .failure(FlowFailure("\(endpoint): the answer does not match the schema: \(problem)"))
        }
        let usage = answer["usage"]
        return .success(
            Answer(
                output: output,
                endpoint: endpoint,
                promptTokens: usage?["prompt_tokens"]?.intValue,
                completionTokens: usage?["completion_tokens"]?.intValue,
                latencyMs: 0,
                hedged: false,
                failures: []
            )
        )
    }

    /// The breaker state of each endpoint, for the API.
    public func breakers() -> [String: Bool] { endpoints.mapValues { e in e.breaker.withLock { $0.isOpen } } }

    static func ms(_ d: Duration) -> Int64 { Int64(d.seconds * 1000) }
}

/// Why a step (or a model call) failed.
public struct FlowFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
