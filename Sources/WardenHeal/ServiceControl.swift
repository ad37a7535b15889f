import WardenCore
import WardenSupervisor

/// What the healing engine needs of a supervisor: health, and the verbs of a ladder.
///
/// ``Supervisor`` is the implementation; the protocol keeps the engine from depending on more.
public protocol ServiceControl: Sendable {
    /// Whether the service runs and passes its health check (if it has one).
    func isHealthy(_ name: String) async -> Bool
    /// The supervisor's state of the service (`running`, `backoff`, `starting`, …); nil when
    /// there is no such service.
    func stateName(_ name: String) async -> String?
    func restart(_ name: String) async throws
    func start(_ name: String) async throws
    func stop(_ name: String) async throws
    /// Stops the service, runs its rebuild steps (output kept in `logDirectory`), starts it.
    func rebuild(_ name: String, logDirectory: String) async throws -> [StepResult]
}

extension Supervisor: ServiceControl {
    public func stateName(_ name: String) async -> String? {
        status().first { $0.name == name }?.state
    }
}
