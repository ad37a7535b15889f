import Foundation
import WardenCore
import WardenHeal
import WardenStore
import WardenSupervisor

/// What each kind of step does, once, and what it is given.
extension WorkflowEngine {
    /// The payload field of a workflow's event that counts the runs that led to it.
    static let chainKey = "workflow_chain"
    /// The longest chain of runs started by each other's events.
    public static let maxChain: Int64 = 8

    /// What the step is given, as recorded (templates filled).
    func inputs(_ step: StepSpec, _ context: JSONValue) -> JSONValue {
        switch step.action {
        case .llm(let c):
            return [
                "model": .string(c.model), "prompt": .string(c.prompt.render(context)),
                "system": c.system.map { .string($0.render(context)) } ?? .null,
            ]
        case .http(let c):
            return [
                "url": .string(c.url.render(context)), "method": .string(c.method),
                "body": c.body.map { FlowTemplate.fill($0, context) } ?? .null,
            ]
        case .exec(let c): return ["run": .array(c.run.map { .string(Self.render($0, context)) })]
        case .heal(let how, let service):
            return ["action": .string(how.rawValue), "service": .string(service.render(context))]
        case .store(.sample(let series, _, let value)):
            return ["sample": .string(series), "value": value.value(context)]
        case .store(.record(let r)): return ["record": FlowTemplate.fill(r, context)]
        case .publish(let type, let subject, let payload):
            return [
                "type": .string(type), "subject": .string(subject.render(context)),
                "payload": FlowTemplate.fill(payload, context),
            ]
        case .approve, .wait: return .null
        }
    }

    static func render(_ text: String, _ context: JSONValue) -> String {
        guard text.contains("{{"), case .success(let t) = FlowTemplate.parse(text) else { return text }
        return t.render(context)
    }

    /// Does the step's work once.
    func perform(
        _ step: StepSpec,
        runID: String,
        _ context: JSONValue,
        attempt: Int
    ) async -> Result<
        (JSONValue, JSONValue?), FlowFailure
    > {
        switch step.action {
        case .llm(let call):
            let answer = await models.complete(
                call,
                system: call.system?.render(context),
                prompt: call.prompt.render(context)
            )
            return answer.map { ($0.output, $0.detail) }
        case .http(let call):
            let url = call.url.render(context)
            if let problem = OutboundURL.problem(url) {
                return .failure(FlowFailure("'\(url.prefix(80))' is not a usable URL: \(problem)"))
            }
            var request = OutboundRequest(url: url)
            request.method = call.method
            request.timeout = step.timeout
            request.caFile = call.caFile
            request.connectionsPerHost = flow.workers
            request.headers = call.headers.map { ($0.key, $0.value.render(context)) }
            if let body = call.body {
                request.headers.append(("content-type", "application/json"))
                request.body = Array(FlowTemplate.fill(body, context).jsonText.utf8)
            }
            do {
                let response = try await d.transport.send(request)
                let body =
                    JSONValue.parse(bytes: response.body)
                    ?? .string(String(decoding: response.body.prefix(8192), as: UTF8.self))
                let output: JSONValue = ["status": .int(Int64(response.status)), "body": body]
                let ok =
                    call.expect.isEmpty ? (200..<300).contains(response.status) : call.expect.contains(response.status)
                return ok ? .success((output, nil)) : .failure(FlowFailure("HTTP \(response.status)"))
            } catch {
                return .failure(FlowFailure(error.message))
            }
        case .exec(var command):
            command.run = command.run.map { Self.render($0, context) }
            command.timeout = step.timeout
            let folder = (d.directory as NSString).appendingPathComponent("\(runID)/\(step.name)-\(attempt)")
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var env = ProcessEnvironment.current()
            env["WARDEN_RUN"] = runID
            env["WARDEN_STEP"] = step.name
            let r = await Supervisor.runStep(command, index: 0, outputs: [:], environment: env, logDirectory: folder)
            let output: JSONValue = [
                "status": .string(r.status), "output": .string(r.output),
                "outputs": .object(r.outputs.mapValues { .string($0) }),
            ]
            return r.ok
                ? .success((output, ["log": .string(r.logPath)]))
                : .failure(FlowFailure("\(r.status): \(r.output.suffix(300))"))
        case .heal(let how, let template):
            guard let healer = d.healer else { return .failure(FlowFailure("no healing engine to act with")) }
            let name = template.render(context)
            let action: HealAction =
                switch how {
                case .restart: .restart(name)
                case .start: .start(name)
                case .stop: .stop(name)
                case .rebuild: .rebuild(name)
                }
            let folder = (d.directory as NSString).appendingPathComponent("\(runID)/\(step.name)-\(attempt)")
            if how == .rebuild {
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            let result = await healer.act(action, origin: "workflow run \(runID), step \(step.name)", folder: folder)
            guard result.ok else { return .failure(FlowFailure("\(how.rawValue) \(name): \(result.outcome)")) }
            return .success(
                (
                    [
                        "service": .string(name), "action": .string(how.rawValue), "outcome": .string(result.outcome),
                        "state": .string(await d.services?.stateName(name) ?? "unknown"),
                    ], result.detail.map { ["detail": $0] }
                )
            )
        case .store(.sample(let series, let labels, let template)):
            guard let write = d.samples else { return .failure(FlowFailure("no store for samples")) }
            let v = template.value(context)
            guard let value = v.doubleValue ?? v.stringValue.flatMap(Double.init), value.isFinite else {
                return .failure(FlowFailure("the value '\(v.jsonText.prefix(60))' is not a number"))
            }
            var batch = SampleBatch()
            batch.append(SeriesKey(name: series, labels: labels), time: StoreMicros.now(d.clock), value: value)
            do { try await write(batch) } catch { return .failure(FlowFailure("cannot store the sample: \(error)")) }
            return .success((["series": .string(series), "value": .double(value)], nil))
        case .store(.record(let template)):
            return .success((FlowTemplate.fill(template, context), nil))
        case .publish(let type, let subject, let payload):
            // Runs that start runs that start runs…: each event a workflow publishes carries how
            // many runs led to it, and the chain stops at ``maxChain`` (two workflows starting
            // each other would otherwise never end).
            let chain = (context["event"]?["payload"]?[Self.chainKey]?.intValue ?? 0) + 1
            guard chain <= Self.maxChain else {
                return .failure(
                    FlowFailure(
                        "\(Self.maxChain) runs in a row were started by each other's events; not publishing another"
                    )
                )
            }
            var fields: [String: JSONValue]
            switch FlowTemplate.fill(payload, context) {
            case .object(let o): fields = o
            case let other: fields = ["value": other]
            }
            fields["run"] = .string(runID)
            fields[Self.chainKey] = .int(chain)
            let body = JSONValue.object(fields)
            let event = d.bus.publish(
                type,
                source: "workflow:\(context["run"]?["workflow"]?.stringValue ?? "")",
                subject: String(subject.render(context).prefix(200)),
                payload: body
            )
            return .success((["event": .int(event.id)], nil))
        case .approve, .wait:
            return .failure(FlowFailure("not a step that runs"))
        }
    }
}
