import WardenCore

extension SpecLoader {
    /// The problems of the spec `yaml`, as `warden validate` prints them
    /// (`file:line:column: key: message`); none when it loads.
    public func problems(_ yaml: String, file: String = "warden.yaml", baseDir: String = "/tmp") -> [String] {
        do {
            _ = try parse(yaml, file: file, baseDir: baseDir)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }
}

/// Twelve lines of YAML anchors, each a list of ten aliases of the one before: `*a11` stands for
/// 10^12 nodes ("billion laughs"), `*a10` for 10^11. The anchors `a`, `a1` … `a11` are defined
/// under the keys `prefix`, `prefix1` … `prefix11`.
public func aliasBomb(prefix: String = "x-a") -> String {
    var yaml = "\(prefix): &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in 1..<12 {
        let previous = i == 1 ? "a" : "a\(i - 1)"
        yaml += "\(prefix)\(i): &a\(i) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
    }
    return yaml
}
