import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The admin token of the local CLI: random, written to `<state_dir>/run/cli.token` with mode 0600
/// at every start, so that whoever may read the state directory may use the CLI without
/// configuring a token. It is never logged or stored elsewhere.
public enum LocalToken {
    public static func path(in runDirectory: String) -> String {
        (runDirectory as NSString).appendingPathComponent("cli.token")
    }

    /// Creates a fresh token file and returns its secret.
    public static func create(in runDirectory: String) throws -> Secret {
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let text = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let file = path(in: runDirectory)
        unlink(file)
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WardenError(.stateDir, "cannot write \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let ok = text.withCString { write(fd, $0, strlen($0)) } == text.utf8.count
        guard ok else { throw WardenError(.stateDir, "cannot write \(file)") }
        return Secret(text)
    }

    /// The token in `runDirectory`, if this user may read it.
    public static func read(in runDirectory: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path(in: runDirectory)) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
