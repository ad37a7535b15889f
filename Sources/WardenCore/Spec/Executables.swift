import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finding the program a command names.
public enum Executables {
    /// The absolute path of `program`: relative to `cwd` when it contains a slash, else searched in
    /// `path` (a PATH value). Fails with a message saying where it looked and what is wrong.
    public static func resolve(_ program: String, cwd: String, path: String?) -> Result<String, ResolveError> {
        if program.contains("/") {
            let full = program.hasPrefix("/") ? program : (cwd as NSString).appendingPathComponent(program)
            let normalized = (full as NSString).standardizingPath
            return check(normalized, asked: program)
        }
        let dirs = (path ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(separator: ":")
        var nonExecutable: String?
        for dir in dirs where !dir.isEmpty {
            let candidate = (String(dir) as NSString).appendingPathComponent(program)
            switch check(candidate, asked: program) {
            case .success(let found): return .success(found)
            case .failure(let e) where e.kind == .notExecutable: nonExecutable = nonExecutable ?? candidate
            case .failure: continue
            }
        }
        if let nonExecutable {
            return .failure(
                ResolveError(kind: .notExecutable, message: "'\(nonExecutable)' is not executable (chmod +x it)")
            )
        }
        return .failure(
            ResolveError(
                kind: .notFound,
                message:
                    "program '\(program)' was not found in PATH (\(dirs.joined(separator: ":"))); give its full path or install it"
            )
        )
    }

    private static func check(_ path: String, asked: String) -> Result<String, ResolveError> {
        var st = stat()
        guard stat(path, &st) == 0 else {
            return .failure(
                ResolveError(kind: .notFound, message: "program '\(asked)' does not exist (looked for \(path))")
            )
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            return .failure(ResolveError(kind: .notExecutable, message: "'\(path)' is a directory, not a program"))
        }
        guard access(path, X_OK) == 0 else {
            return .failure(ResolveError(kind: .notExecutable, message: "'\(path)' is not executable (chmod +x it)"))
        }
        return .success(path)
    }

    /// Why a program could not be used.
    public struct ResolveError: Error, Sendable {
        public enum Kind: Sendable { case notFound, notExecutable }
        public var kind: Kind
        public var message: String
    }
}
