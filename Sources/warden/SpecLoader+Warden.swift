import WardenCore
import WardenDefense
import WardenDetect
import WardenFleet
import WardenFlow
import WardenGitOps
import WardenHTTP
import WardenHeal
import WardenSLO
import WardenServer
import WardenStore

extension SpecLoader {
    /// The loader of the `warden` binary: the core sections and every domain's own.
    static func warden(environment: [String: String] = ProcessEnvironment.current()) -> SpecLoader {
        var loader = SpecLoader(
            environment: environment,
            sections: [
                APISection.self, MonitorsSection.self, DefenseSection.self, HealingSection.self, StoreSection.self,
                BackupSection.self,
                FleetSection.self, AuditSection.self, HooksSection.self, SLOSection.self, AlertingSection.self,
                FlowSection.self, GitOpsSection.self,
            ]
        )
        loader.vaultHTTP = BlockingHTTPClient.shared
        return loader
    }
}
