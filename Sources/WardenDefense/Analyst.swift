import Foundation
import WardenCore

/// Asks an OpenAI-compatible chat-completions endpoint (Ollama, vLLM, llama.cpp, …) for a verdict
/// on an address's behaviour, as JSON: `verdict` (malicious, benign or unsure), `confidence`
/// (0 to 1) and `reason`. Any failure (timeout, HTTP error, an answer that is not that JSON) is
/// returned as such, and the rules decide alone.
public struct Analyst: Sendable {
    public struct Verdict: Sendable, Hashable {
        public var verdict: String
        public var confidence: Double
        public var reason: String

        public init(verdict: String, confidence: Double, reason: String) {
            self.verdict = verdict
            self.confidence = confidence
            self.reason = reason
        }

        public var json: JSONValue {
            ["verdict": .string(verdict), "confidence": .double(confidence), "reason": .string(reason)]
        }
    }

    let spec: AnalystSpec
    let transport: any HTTPTransport

    /// Nil when the spec's URL is not an http(s) URL (the spec loader refuses those).
    public init?(_ spec: AnalystSpec, transport: any HTTPTransport) {
        guard OutboundURL.problem(spec.url) == nil else { return nil }
        self.spec = spec
        self.transport = transport
    }

    static let instructions = """
        You are the network security analyst of a Linux server. You are shown what one remote \
        address did to this server. Decide whether it is an attack. Answer with one JSON object \
        and nothing else: {"verdict": "malicious" | "benign" | "unsure", "confidence": a number \
        from 0 to 1, "reason": one short sentence}.
        """

    /// What the model is shown about a threat.
    public static func summary(_ threat: Threat) -> String {
        var lines = [
            "Address: \(threat.address)",
            "Rule-based threat score: \(String(format: "%.2f", threat.score)) (1.0 means ban)",
            "Scenarios triggered: \(threat.scenarios.joined(separator: ", "))",
            "Recent evidence:",
        ]
        lines += threat.evidence.map { "- \($0)" }
        return lines.joined(separator: "\n")
    }

    /// Asks about `threat`, within the spec's timeout for the whole exchange.
    public func ask(_ threat: Threat) async -> Result<Verdict, FirewallError> {
        let body: JSONValue = [
            "model": .string(spec.model), "temperature": .int(0), "stream": .bool(false),
            "response_format": ["type": "json_object"],
            "messages": [
                ["role": "system", "content": .string(Self.instructions)],
                ["role": "user", "content": .string(Self.summary(threat))],
            ],
        ]
        let base = spec.url.hasSuffix("/") ? String(spec.url.dropLast()) : spec.url
        var request = OutboundRequest.postJSON(
            body,
            to: base + "/chat/completions",
            timeout: spec.timeout,
            caFile: spec.caFile
        )
        if let token = spec.token {
            request.headers.append(("authorization", "Bearer \(String(decoding: token.bytes, as: UTF8.self))"))
        }
        do {
            let response = try await transport.send(request)
            guard response.status == 200 else {
                return .failure(FirewallError("the analyst answered HTTP \(response.status)"))
            }
            return Self.parse(Data(response.body))
        } catch {
            return .failure(FirewallError("the analyst did not answer: \(error.message)"))
        }
    }

    /// Reads the verdict out of a chat-completions answer.
    public static func parse(_ data: Data) -> Result<Verdict, FirewallError> {
        guard let answer = JSONValue.parse(String(decoding: data, as: UTF8.self)),
            let content = answer["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue
        else { return .failure(FirewallError("the analyst's answer is not a chat completion")) }
        var text = content.trimmingCharacters(in: .whitespacesAndNewlines)
        // Models like to wrap JSON in a code fence.
        if text.hasPrefix("```") {
            text = text.split(separator: "\n").dropFirst().filter { !$0.hasPrefix("```") }.joined(separator: "\n")
        }
        guard let v = JSONValue.parse(text), let verdict = v["verdict"]?.stringValue,
            ["malicious", "benign", "unsure"].contains(verdict),
            let confidence = v["confidence"]?.doubleValue, confidence >= 0, confidence <= 1
        else {
            return .failure(
                FirewallError(
                    "the analyst's verdict is not valid JSON with verdict and confidence: \(text.prefix(200))"
                )
            )
        }
        return .success(Verdict(verdict: verdict, confidence: confidence, reason: v["reason"]?.stringValue ?? ""))
    }

    /// The score after a verdict: moved by at most half the threshold, never below 0.
    public static func adjust(_ score: Double, by v: Verdict, threshold: Double) -> Double {
        let step = v.confidence * threshold / 2
        switch v.verdict {
        case "malicious": return score + step
        case "benign": return max(0, score - step)
        default: return score
        }
    }
}
