import Logging
import ServiceLifecycle
import WardenCore
import WardenServer
import WardenSupervisor

/// Reads the secrets of the services' environments (Vault, environment, files) at start and
/// every `vault.refresh`, and hands them to the supervisor: services start once their secrets are
/// read (and wait, saying why, while they cannot be), and are restarted when a value changes
/// (`secret.rotated`). Each reference's first read is an `audit.secret.read` record; values never
/// leave the supervisor's memory and the services' environments.
struct SecretWatcher: Service {
    let supervisor: Supervisor
    let vault: VaultSession?
    let environment: [String: String]
    let refresh: Duration
    let bus: EventBus
    let logger: Logger

    func run() async throws {
        var announced: Set<String> = []
        var reported: [String: String] = [:]
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let references = await supervisor.secretReferences.sorted()
            let (vault, environment) = (self.vault, self.environment)
            let (values, problems) = await blockingWork { () -> ([String: Secret], [String: String]) in
                vault?.beginPass()
                var values: [String: Secret] = [:]
                var problems: [String: String] = [:]
                for reference in references {
                    switch SpecLoader.read(reference, environment: environment, vault: vault) {
                    case .success(let secret): values[reference] = secret
                    case .failure(let problem): problems[reference] = problem.message
                    }
                }
                return (values, problems)
            }
            for reference in values.keys.sorted() where announced.insert(reference).inserted {
                bus.publish(SecretRead(reference: reference, when: "service"), source: "warden", subject: reference)
            }
            for (reference, problem) in problems where reported[reference] != problem {
                logger.warning(
                    "a service's secret cannot be read",
                    metadata: ["warden.secret": "\(reference)", "warden.reason": "\(problem)"]
                )
            }
            reported = problems
            for rotated in await supervisor.applySecrets(values, problems: problems) {
                logger.info(
                    "secret rotated; services restarted",
                    metadata: ["warden.secret": "\(rotated.reference)", "warden.services": "\(rotated.services)"]
                )
            }
            // While a service waits for a secret, look again soon; otherwise every `refresh`.
            let wait = problems.isEmpty ? refresh : min(refresh, .seconds(2))
            try? await gracefulShutdownSleep(wait)
        }
    }

    private func gracefulShutdownSleep(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }
}
