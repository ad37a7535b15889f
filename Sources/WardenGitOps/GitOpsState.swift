import Foundation

/// What the node remembers of its repository across restarts (`gitops/state.json` in the state
/// directory): the last good commit, and the commits rolled back, which are not applied again
/// while they are the branch's head.
struct GitOpsState: Codable, Equatable, Sendable {
    var good: String?
    /// The commit applied last (nil: the node's own spec): what a new head must contain.
    var applied: String?
    /// Rolled-back commits and why; at most ``maxBad``, the oldest forgotten first.
    var bad: [String: String] = [:]
    var badOrder: [String] = []

    static let maxBad = 100

    mutating func remember(bad commit: String, _ reason: String) {
        if bad[commit] == nil { badOrder.append(commit) }
        bad[commit] = reason
        while badOrder.count > Self.maxBad { bad[badOrder.removeFirst()] = nil }
    }

    static func load(_ path: String) -> GitOpsState {
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 20,
            let state = try? JSONDecoder().decode(GitOpsState.self, from: data)
        else { return GitOpsState() }
        return state
    }

    /// Writes the state atomically (a new file renamed over the old one).
    func save(_ path: String) throws {
        let data = try JSONEncoder().encode(self)
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
