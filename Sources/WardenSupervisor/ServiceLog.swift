import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The file a service's stdout and stderr are written to, and its size-based rotation.
///
/// The service writes to the file directly (opened with O_APPEND), not through a pipe to Warden,
/// so its output never depends on Warden being alive: no SIGPIPE, no blocked writes, no lost lines
/// when Warden restarts. Rotation therefore copies the file to `.1` and truncates it in place
/// (copytruncate); a line written between the copy and the truncation can be lost, which is the
/// price of not routing output through Warden.
public struct ServiceLog: Sendable {
    /// `<state_dir>/logs/<service>.log`.
    public let path: String
    public let policy: LogPolicy

    public init(directory: String, service: String, policy: LogPolicy) {
        self.path = (directory as NSString).appendingPathComponent("\(service).log")
        self.policy = policy
    }

    /// Opens the file for a child's output (append, create, 0640). The caller closes the fd after
    /// spawning; the child keeps its own copy.
    public func openForChild() throws -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        return fd
    }

    /// The file's size now (-1 when it cannot be read).
    public func size() -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : -1
    }

    /// Rotates when the file is larger than the policy allows. Returns whether it rotated.
    @discardableResult
    public func rotateIfNeeded() -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, Int64(st.st_size) > policy.maxSize else { return false }
        rotate()
        return true
    }

    /// Shifts `.1`…`.N-1` up by one, copies the live file to `.1` and truncates it.
    public func rotate() {
        let fm = FileManager.default
        if policy.keep > 0 {
            try? fm.removeItem(atPath: "\(path).\(policy.keep)")
            if policy.keep > 1 {
                for i in stride(from: policy.keep - 1, through: 1, by: -1) {
                    _ = rename("\(path).\(i)", "\(path).\(i + 1)")
                }
            }
            copy(from: path, to: "\(path).1")
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = ftruncate(fd, 0)
            close(fd)
        }
    }

    /// The rotated files that exist, oldest first, then the live file.
    public func allFiles() -> [String] {
        var files: [String] = []
        for i in stride(from: max(policy.keep, 20), through: 1, by: -1) where access("\(path).\(i)", F_OK) == 0 {
            files.append("\(path).\(i)")
        }
        files.append(path)
        return files
    }

    private func copy(from source: String, to destination: String) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard output >= 0 else { return }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                if w <= 0 { return }
                written += w
            }
        }
    }
}
