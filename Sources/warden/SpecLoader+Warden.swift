import WardenCore
import WardenDefense
import WardenDetect
import WardenHeal

extension SpecLoader {
    /// The loader of the `warden` binary: the core sections and every domain's own.
    static func warden(environment: [String: String] = ProcessEnvironment.current()) -> SpecLoader {
        SpecLoader(
            environment: environment,
            sections: [MonitorsSection.self, DefenseSection.self, HealingSection.self]
        )
    }
}
