import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// What one rebuild step did.
public struct StepResult: Sendable, Hashable, Codable {
    public var command: [String]
    public var status: String
    public var ok: Bool
    public var durationMs: Int64
    /// The step's output (stdout then stderr), as written to `logPath`, truncated to 8 KiB.
    public var output: String
    public var logPath: String
    /// Values the step published by printing a JSON object.
    public var outputs: [String: String]

    enum CodingKeys: String, CodingKey {
        case command, status, ok, output, outputs
        case durationMs = "duration_ms"
        case logPath = "log_path"
    }
}

extension Supervisor {
    /// Whether the service runs, is ready, and passes its health probe (if it has one).
    public func isHealthy(_ name: String) -> Bool {
        guard let s = services[name], case .running = s.machine.state else { return false }
        return s.health?.passing ?? true
    }

    /// The outputs of the service's last rebuild.
    public func rebuildOutputs(_ name: String) -> [String: String] { outputs[name] ?? [:] }

    /// Destroys and provisions a service again: stops it (the whole group), runs its `rebuild`
    /// steps in order (each with its timeout, environment and directory; output kept in
    /// `logDirectory`), then starts it with a clean failure history. A step that prints a JSON
    /// object publishes its values as outputs for `${outputs.NAME}` (Terraform's `output -json`
    /// form `{"name": {"value": …}}` is understood). Stops at the first failing step; the service
    /// is started either way so that it is not left down (its health tells whether it worked).
    public func rebuild(_ name: String, logDirectory: String) async throws -> [StepResult] {
        let s = try service(name)
        publish(ServiceRebuilding(steps: s.spec.rebuild.count), s)
        s.wanted = false
        perform(s.machine.stop(now: clock.now()), for: s)
        if !s.machine.hasProcess { markStopped(s) }
        afterInput()
        while services[name]?.machine.hasProcess == true {
            try await clock.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        var results: [StepResult] = []
        let baseEnvironment = environment(for: s, identity: identity(for: s.spec))
        for (index, step) in s.spec.rebuild.enumerated() {
            let result = await Self.runStep(
                step,
                index: index,
                outputs: outputs[name] ?? [:],
                environment: baseEnvironment,
                logDirectory: logDirectory
            )
            results.append(result)
            if !result.outputs.isEmpty {
                outputs[name, default: [:]].merge(result.outputs) { _, new in new }
                saveOutputs(name)
            }
            publish(
                ServiceRebuildStep(step: index + 1, command: step.run.joined(separator: " "), status: result.status),
                s
            )
            if !result.ok { break }
        }
        let ok = results.allSatisfy(\.ok)
        publish(ServiceRebuilt(ok: ok, outputs: outputs[name] ?? [:]), s)
        if let current = services[name] {
            current.wanted = true
            startIfDependenciesReady(current, manual: true)
            afterInput()
        }
        return results
    }

    /// Runs one command step to completion, output in `logDirectory`; never throws (a failure is a
    /// result). A JSON object printed on stdout becomes the result's outputs.
    public nonisolated static func runStep(
        _ step: CommandStep,
        index: Int,
        outputs: [String: String],
        environment: [String: String],
        logDirectory: String
    ) async -> StepResult {
        let argv = step.run.map { OutputTemplate.resolve($0, outputs) }
        let outPath = (logDirectory as NSString).appendingPathComponent("step-\(index + 1).out")
        let errPath = (logDirectory as NSString).appendingPathComponent("step-\(index + 1).err")
        var env = environment
        for (k, v) in step.env { env[k] = OutputTemplate.resolve(v, outputs) }
        let start = ContinuousClock.now  // measures the step; decides nothing
        func failed(_ status: String) -> StepResult {
            StepResult(
                command: argv,
                status: status,
                ok: false,
                durationMs: 0,
                output: "",
                logPath: outPath,
                outputs: [:]
            )
        }
        guard case .success(let executable) = Executables.resolve(argv[0], cwd: step.cwd, path: env["PATH"]) else {
            return failed("program '\(argv[0])' not found")
        }
        let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        defer {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
        }
        var request = SpawnRequest(executable: executable, arguments: argv, environment: env, cwd: step.cwd)
        request.stdout = out
        request.stderr = err
        let status: ExitStatus
        do {
            status = try await ChildProcess.run(request, timeout: step.timeout)
        } catch {
            return failed("\(error)")
        }
        let elapsed = (ContinuousClock.now - start).seconds
        // Outputs are a small JSON object; a step that prints more is read only in part.
        let stdout: String
        switch BoundedFile.read(outPath, limit: 1 << 20) {
        case .whole(let bytes)?: stdout = String(decoding: bytes, as: UTF8.self)
        case .truncated?: stdout = BoundedFile.tail(outPath, limit: 8192)
        case nil: stdout = ""
        }
        let stderr = BoundedFile.tail(errPath, limit: 8192)
        var published: [String: String] = [:]
        if case .object(let fields)? = JSONValue.parse(stdout.trimmingCharacters(in: .whitespacesAndNewlines)) {
            for (k, v) in fields {
                let value = v["value"] ?? v
                switch value {
                case .string(let s): published[k] = s
                case .int(let i): published[k] = String(i)
                case .double(let d): published[k] = String(d)
                case .bool(let b): published[k] = b ? "true" : "false"
                default: break
                }
            }
        }
        let timedOut = elapsed >= step.timeout.seconds && !status.isSuccess
        let combined = stdout + (stderr.isEmpty ? "" : (stdout.isEmpty ? "" : "\n") + stderr)
        return StepResult(
            command: argv,
            status: timedOut ? "timed out after \(DurationFormat.format(step.timeout))" : "\(status)",
            ok: status.isSuccess,
            durationMs: Int64(elapsed * 1000),
            output: String(combined.suffix(8192)),
            logPath: outPath,
            outputs: published
        )
    }

    func outputsPath(_ name: String) -> String {
        (runDirectory as NSString).appendingPathComponent("\(name).outputs.json")
    }

    func saveOutputs(_ name: String) {
        let text = JSONValue.object((outputs[name] ?? [:]).mapValues { .string($0) }).jsonText
        try? text.write(toFile: outputsPath(name), atomically: true, encoding: .utf8)
    }

    /// Reads the outputs saved by earlier rebuilds.
    func loadOutputs() {
        for name in order {
            guard let text = try? String(contentsOfFile: outputsPath(name), encoding: .utf8),
                case .object(let fields)? = JSONValue.parse(text)
            else { continue }
            outputs[name] = fields.compactMapValues(\.stringValue)
        }
    }
}
