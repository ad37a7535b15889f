/// What a run does next, decided from its spec and its state alone (no I/O).
public enum WorkflowPlan {
    public enum Next: Sendable, Hashable {
        /// Steps to mark skipped: every step they need was skipped (their branch was not taken).
        case skip([String])
        /// Steps whose needs are settled: run them, together.
        case run([String])
        /// Nothing can go on until a person approves or a wait ends.
        case waiting
        /// The run is over.
        case finished(RunState.Status, error: String?)
    }

    public static func next(_ workflow: WorkflowSpec, _ run: RunState) -> Next {
        if let failed = workflow.steps.first(where: { run.steps[$0.name]?.status == .failed }) {
            let why = run.steps[failed.name]?.error ?? "failed"
            return .finished(.failed, error: "step '\(failed.name)' failed: \(why)")
        }
        var skip: [String] = []
        var ready: [String] = []
        for step in workflow.steps where (run.steps[step.name]?.status ?? .pending) == .pending {
            let needs = step.needs.map { run.steps[$0]?.status ?? .pending }
            guard needs.allSatisfy(\.isSettled) else { continue }
            if !needs.isEmpty && needs.allSatisfy({ $0 == .skipped }) {
                skip.append(step.name)
            } else {
                ready.append(step.name)
            }
        }
        if !skip.isEmpty { return .skip(skip) }
        if !ready.isEmpty { return .run(ready) }
        if run.steps.values.contains(where: { $0.status == .waiting || $0.status == .running }) { return .waiting }
        return .finished(.succeeded, error: nil)
    }
}
