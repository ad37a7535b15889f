/// The `after` relation between services: start order, stop order and cycle detection.
public struct DependencyGraph: Sendable {
    /// For each service, the services it starts after.
    public let dependencies: [String: [String]]
    /// Service names in declaration order.
    public let names: [String]

    public init(services: [(name: String, after: [String])]) {
        names = services.map(\.name)
        dependencies = Dictionary(services.map { ($0.name, $0.after) }, uniquingKeysWith: { a, _ in a })
    }

    public init(_ services: [ServiceSpec]) {
        self.init(services: services.map { ($0.name, $0.after) })
    }

    /// The services that start after `name`.
    public func dependents(of name: String) -> [String] {
        names.filter { dependencies[$0, default: []].contains(name) }
    }

    /// One dependency cycle, as the path `a → b → a`, or nil when there is none.
    public func findCycle() -> [String]? {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        func visit(_ n: String) -> [String]? {
            if marks[n] == .done { return nil }
            if marks[n] == .visiting {
                let start = stack.firstIndex(of: n)!
                return Array(stack[start...]) + [n]
            }
            marks[n] = .visiting
            stack.append(n)
            for d in dependencies[n, default: []] where dependencies[d] != nil {
                if let cycle = visit(d) { return cycle }
            }
            stack.removeLast()
            marks[n] = .done
            return nil
        }
        for n in names {
            if let cycle = visit(n) { return cycle }
        }
        return nil
    }

    /// A start order in which every service comes after its dependencies (declaration order among
    /// independent ones). Requires an acyclic graph.
    public func startOrder() -> [String] {
        var placed = Set<String>()
        var order: [String] = []
        while order.count < names.count {
            var progressed = false
            for n in names where !placed.contains(n) {
                if dependencies[n, default: []].allSatisfy({ placed.contains($0) || dependencies[$0] == nil }) {
                    placed.insert(n)
                    order.append(n)
                    progressed = true
                }
            }
            if !progressed { break }
        }
        return order
    }
}
