/// Event types an outside caller may publish: letters, digits, `_`, `-` and `.`, 1 to 100 bytes,
/// and never in a namespace Warden itself vouches for.
public enum PublishedType {
    /// Namespaces only Warden writes: the audit trail, Warden's own lifecycle, secrets, GitOps (a
    /// forged `gitops.rolled_back` would halt a fleet's rollout).
    public static let reserved = ["audit.", "warden.", "secret.", "bus.", "gitops."]

    /// Why `type` cannot be published, or nil.
    public static func problem(_ type: String) -> String? {
        guard !type.isEmpty, type.utf8.count <= 100,
            type.utf8.allSatisfy({
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E
                    || $0 == 0x5F || $0 == 0x2D
            }), type.first != ".", type.last != "."
        else { return "expected an event type of 1 to 100 letters, digits, '.', '_' or '-', such as custom.disk_alarm" }
        if let prefix = reserved.first(where: { type.hasPrefix($0) }) {
            return
                "'\(prefix)*' events are Warden's own; publish under another name, such as custom.\(type.dropFirst(prefix.count))"
        }
        return nil
    }
}
