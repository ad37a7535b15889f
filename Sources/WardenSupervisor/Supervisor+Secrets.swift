import WardenCore

/// A secret of a service's environment changed and the services that use it were restarted.
public struct SecretRotated: EventPayload {
    public static let type = "secret.rotated"
    /// The reference (`vault:PATH#FIELD`), never the value.
    public var reference: String
    /// The services restarted with the new value.
    public var services: [String]
}

extension Supervisor {
    /// The secret references the services' environments use.
    public var secretReferences: Set<String> {
        Set(services.values.flatMap { $0.spec.secretEnv.values })
    }

    /// Takes the secrets just read (`values`) and why the others could not be (`problems`), by
    /// reference. A service whose secrets are all known starts (until then it is `waiting`, and
    /// its status says for what); a running service whose secret changed is restarted with the
    /// new value. A reference that could not be read keeps its last value, so that services go on
    /// while Vault is away. Returns what changed and which services were restarted for it.
    @discardableResult
    public func applySecrets(_ values: [String: Secret], problems: [String: String]) -> [SecretRotated] {
        var changed: Set<String> = []
        for (reference, value) in values {
            if let old = secretValues[reference], old != value { changed.insert(reference) }
            secretValues[reference] = value
        }
        secretProblems = problems.filter { values[$0.key] == nil }
        var rotated: [String: [String]] = [:]
        for name in order {
            guard let s = services[name], s.wanted else { continue }
            let used = Set(s.spec.secretEnv.values)
            let hit = used.intersection(changed)
            if !hit.isEmpty, s.machine.hasProcess {
                try? restart(name)
                for reference in hit { rotated[reference, default: []].append(name) }
            } else if case .idle = s.machine.state {
                startIfDependenciesReady(s, manual: false)
            }
        }
        let events = rotated.sorted { $0.key < $1.key }.map { SecretRotated(reference: $0.key, services: $0.value) }
        for event in events { bus.publish(event, source: "supervisor", subject: event.services.joined(separator: ",")) }
        return events
    }

    /// Whether every secret `s` needs has been read.
    func secretsKnown(_ s: ManagedService) -> Bool {
        s.spec.secretEnv.values.allSatisfy { secretValues[$0] != nil }
    }

    /// What a waiting service waits for among its secrets.
    func missingSecrets(_ s: ManagedService) -> [String] {
        s.spec.secretEnv.values.filter { secretValues[$0] == nil }.sorted().map { reference in
            "secret \(reference): \(secretProblems[reference] ?? "not read yet")"
        }
    }
}
