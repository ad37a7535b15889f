import Hummingbird

extension Parameters {
    /// The value of a query parameter; an empty value counts as absent.
    func value(_ name: String) -> String? {
        guard let v = get(name), !v.isEmpty else { return nil }
        return v
    }

    /// Every non-empty value of a repeated query parameter.
    func values(_ name: String) -> [String] { getAll(name).filter { !$0.isEmpty } }
}

extension APIContext {
    /// A path parameter, percent-decoded.
    package func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }
}
