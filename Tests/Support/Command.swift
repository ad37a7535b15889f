import Foundation
import WardenCore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public var status: ExitStatus
    public var stdout: String
    public var stderr: String

    public var exitCode: Int32? {
        if case .exited(let c) = status { return c }
        return nil
    }
}

/// Runs a program to completion with its output captured (spawned through Warden's own spawner,
/// so it is reaped by the same reaper as everything else in the test process).
public func runCommand(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = ProcessInfo.processInfo.environment,
    cwd: String? = nil,
    timeout: Duration = .seconds(60)
) async throws -> CommandResult {
    let dir = TempDir("warden-cmd")
    let outFD = open(dir.file("out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let errFD = open(dir.file("err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    var request = SpawnRequest(
        executable: executable,
        arguments: [executable] + arguments,
        environment: environment,
        cwd: cwd
    )
    request.stdout = outFD
    request.stderr = errFD
    let status: ExitStatus
    do {
        status = try await ChildProcess.run(request, timeout: timeout)
    } catch {
        close(outFD)
        close(errFD)
        throw error
    }
    close(outFD)
    close(errFD)
    return CommandResult(
        status: status,
        stdout: (try? String(contentsOfFile: dir.file("out"), encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? ""
    )
}

/// Runs the `warden` CLI.
public func warden(
    _ arguments: String...,
    cwd: String? = nil,
    timeout: Duration = .seconds(60)
) async throws -> CommandResult {
    try await runCommand(Binaries.warden, arguments, cwd: cwd, timeout: timeout)
}

/// A `warden run` in the background, with its output in files.
public final class WardenProcess: Sendable {
    public let child: ChildProcess
    public let outputPath: String
    public let config: String
    private let dir: TempDir

    /// Starts `warden run -c config`, after `prefix` when given (`ip netns exec NAME`).
    public init(config: String, arguments: [String] = [], prefix: [String] = []) throws {
        dir = TempDir("warden-proc")
        outputPath = dir.file("warden.log")
        self.config = config
        let fd = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let argv = prefix + [Binaries.warden, "run", "-c", config] + arguments
        var request = SpawnRequest(
            executable: argv[0],
            arguments: argv,
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = fd
        request.stderr = fd
        child = try ChildProcess.spawn(request)
    }

    public var pid: pid_t { child.pid }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Sends a signal to Warden itself (not its services).
    public func signal(_ sig: Int32) { _ = kill(child.pid, sig) }

    /// Waits for Warden to exit, failing after `timeout` (Warden is then killed).
    public func wait(timeout: Duration = .seconds(30)) async throws -> ExitStatus {
        guard let status = await child.exit(within: timeout) else {
            throw TimedOut(what: "warden to exit", seen: [])
        }
        return status
    }

    /// Stops Warden gracefully (SIGTERM) and waits; SIGKILLs it if it does not stop in time.
    public func stop(timeout: Duration = .seconds(30)) async throws -> ExitStatus {
        signal(SIGTERM)
        do {
            return try await wait(timeout: timeout)
        } catch {
            signal(SIGKILL)
            throw error
        }
    }

    deinit {
        if child.exitStatus == nil { _ = kill(child.pid, SIGKILL) }
    }
}

extension ChildProcess {
    /// Waits for the exit for at most `timeout` (or until the test is cancelled, by its time limit
    /// for one); then kills the child and its group and returns nil.
    ///
    /// ``ChildProcess/wait()`` ignores cancellation: a test awaiting a child that never exits would
    /// never end, and with it the whole test run, since a time limit can only cancel. Tests wait
    /// through here.
    public func exit(within timeout: Duration = .seconds(30)) async -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !Task.isCancelled {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(5))
        }
        if let status = exitStatus { return status }
        signalGroup(SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
        return nil
    }
}
