#if canImport(Glibc)
import Glibc
#endif

/// Reads files whose size Warden does not control (secret files, a rebuild step's output) without
/// ever holding more than a limit: a secret that names `/dev/zero` or a step that prints
/// gigabytes costs `limit` bytes, not all memory.
public enum BoundedFile {
    /// What was read.
    public enum Contents: Equatable, Sendable {
        /// The whole file (at most `limit` bytes).
        case whole([UInt8])
        /// The file is larger than the limit; these are its first `limit` bytes.
        case truncated([UInt8])
    }

    /// Reads `path` up to `limit` bytes; nil when it cannot be opened or read.
    public static func read(_ path: String, limit: Int) -> Contents? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count <= limit {
            let n = bytes.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + count, limit + 1 - count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }  // a FIFO with nothing in it: what there is
                return nil
            }
            if n == 0 { break }
            count += n
        }
        if count > limit { return .truncated(Array(bytes[0..<limit])) }
        return .whole(Array(bytes[0..<count]))
    }

    /// The last `limit` bytes of `path` (all of it when smaller), as text; "" when unreadable.
    public static func tail(_ path: String, limit: Int) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return "" }
        let start = max(0, Int(st.st_size) - limit)
        _ = lseek(fd, off_t(start), SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: min(limit, max(0, Int(st.st_size))))
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress! + count, raw.count - count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            count += n
        }
        return String(decoding: bytes[0..<count], as: UTF8.self)
    }
}
