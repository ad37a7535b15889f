import Foundation
import WardenCore
import WardenSupervisor

/// The rollout watch (settling or rolling back a commit), drift, and what the head would change.
extension GitOpsService {
    // MARK: - Watching a rollout

    func endWatch() async {
        guard let current = watch else { return }
        let statuses = Dictionary(await d.statuses().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in current.services {
            guard let status = statuses[name] else { continue }
            // Stopped is what an operator's `warden stop` leaves (Warden itself keeps a spec's
            // services running): not the commit's doing. The drift check reports it.
            if status.state == "stopped" { continue }
            if status.state != "running" {
                watch?.problems[name] = "it is \(status.state), not running, \(d.spec.settle) after the commit"
            } else if status.health == "failing" {
                watch?.problems[name] = "its health check fails"
            }
        }
        if watch?.problems.isEmpty == true {
            watch = nil
            settle(current.commit)
        } else {
            await rollBack()
        }
    }

    /// Goes back to the last good commit (or the node's own spec) after a rollout failed.
    func rollBack() async {
        guard let failed = watch else { return }
        watch = nil
        let reasons = failed.problems.keys.sorted().map { "\($0): \(failed.problems[$0]!)" }
        state.remember(bad: failed.commit, "rolled back: " + reasons.joined(separator: "; "))
        persist()
        var target = state.good
        var spec = d.local
        if let good = target {
            do {
                spec = try await load(good)
            } catch {
                d.logger.error(
                    "the last good commit cannot be read again; going back to the node's own spec",
                    metadata: ["warden.commit": "\(good)", "warden.error": "\(error)"]
                )
                target = nil
            }
        }
        do {
            _ = try await d.apply(spec)
        } catch {
            // The failed spec still runs: say so, and leave `applied` as it is.
            d.logger.error("rolling back failed", metadata: ["warden.error": "\(error)"])
            refusal = (failed.commit, state.bad[failed.commit]!)
            publish(
                GitOpsRolledBack(
                    commit: failed.commit,
                    to: nil,
                    services: failed.problems.keys.sorted(),
                    reasons: reasons + ["the rollback itself failed: \(error)"]
                )
            )
            return
        }
        applied = target
        appliedSpec = spec
        state.applied = target
        persist()
        if let target { await d.repository.mark("refs/warden/applied", target) }
        refusal = (failed.commit, state.bad[failed.commit]!)
        publish(
            GitOpsRolledBack(
                commit: failed.commit,
                to: target,
                services: failed.problems.keys.sorted(),
                reasons: reasons
            )
        )
        d.logger.error(
            "a commit left services unhealthy; rolled back",
            metadata: ["warden.commit": "\(failed.commit)", "warden.to": "\(target ?? "the node's own spec")"]
        )
    }

    // MARK: - Drift

    /// Compares the running state with the desired one and reports a change.
    func checkDrift() async {
        var reasons: [String] = []
        if let head, head != applied, let refusal, refusal.commit == head {
            reasons.append("the branch's head \(head.prefix(12)) is not applied: \(refusal.reason)")
        } else if let head, head != applied, let waiting, waiting.commit == head {
            reasons.append("the branch's head \(head.prefix(12)) is not applied yet: \(waiting.reason)")
        }
        let statuses = Dictionary(await d.statuses().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for service in appliedSpec.services {
            switch statuses[service.name]?.state {
            case nil: reasons.append("\(service.name) is in the desired spec but not supervised")
            case "stopped": reasons.append("\(service.name) is stopped; the desired spec runs it")
            case "failed": reasons.append("\(service.name) has failed and is not restarted")
            default: break
            }
        }
        let desired = Set(appliedSpec.services.map(\.name))
        for name in statuses.keys.sorted() where !desired.contains(name) && statuses[name]?.state != "stopping" {
            reasons.append("\(name) runs but is not in the desired spec")
        }
        guard reasons != drift else { return }
        let was = drift
        drift = reasons
        if reasons.isEmpty {
            if !was.isEmpty { publish(GitOpsInSync(commit: applied)) }
        } else {
            publish(GitOpsDrift(reasons: reasons))
        }
    }

    // MARK: - Diff

    func describeHead() async -> JSONValue {
        var o: [String: JSONValue] = ["applied": applied.map(JSONValue.string) ?? .null]
        let commit: String
        do {
            commit = try await d.repository.fetch(d.spec.repository, branch: d.spec.branch)
        } catch {
            o["error"] = .string("the repository cannot be fetched: \(error.description)")
            return .object(o)
        }
        o["head"] = .string(commit)
        var refused: String?
        switch await d.repository.verify(commit, trust: d.spec.trust) {
        case .good(let signer): o["signed_by"] = .string(signer)
        case .refused(let why): refused = why
        }
        if let why = state.bad[commit] { refused = why }
        if let base = applied ?? state.applied ?? state.good, commit != base,
            await d.repository.contains(commit, ancestor: base) != true
        {
            o["rewritten"] = .bool(true)
            if !d.spec.allowRewrites, refused == nil {
                refused = "the branch's history was rewritten since \(base.prefix(12))"
            }
        }
        if let refused {
            // An unverified file is never read as a spec (its secret references would be read).
            o["refused"] = .string(refused)
            return .object(o)
        }
        do {
            let desired = try await load(commit)
            let diff = SpecDiff(from: appliedSpec, to: desired)
            o["changes"] = .array(diff.lines.map(JSONValue.string))
        } catch let problem as LoadProblem {
            o["invalid"] = .string(problem.reason)
            if let errors = problem.errors { o["errors"] = .array(errors.map(JSONValue.string)) }
        } catch {
            o["invalid"] = .string("\(error)")
        }
        return .object(o)
    }
}
