import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Files kept open to be read again from offset 0 (the kernel writes a cgroup or /proc file anew
/// for every read from the start), at most `limit` of them.
///
/// A descriptor whose file went away (its cgroup was removed: reads fail with ENODEV) is closed
/// and the file opened again once; when it cannot be, the read returns nil.
final class KeptDescriptors: Sendable {
    private let open: Mutex<[String: Int32]> = Mutex([:])
    let limit: Int

    init(limit: Int) {
        var rl = rlimit()
        let budget = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 ? Int(clamping: rl.rlim_cur / 8) : 64
        self.limit = max(0, min(limit, budget))
    }

    deinit {
        open.withLock { for fd in $0.values { close(fd) } }
    }

    /// How many files are open.
    var count: Int { open.withLock { $0.count } }

    /// What a read through a kept descriptor gave.
    enum Outcome: Equatable {
        case text(String)
        /// The file cannot be opened or read.
        case missing
        /// No descriptor is left to keep: the caller reads it the ordinary way.
        case notKept
    }

    /// The file's contents through a kept descriptor.
    func read(_ path: String) -> Outcome {
        open.withLock { open -> Outcome in
            for attempt in 0..<2 {
                let fd: Int32
                if let kept = open[path] {
                    fd = kept
                } else {
                    guard open.count < limit else { return .notKept }
                    fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { return .missing }
                    open[path] = fd
                }
                if let text = Self.readFromStart(fd) { return .text(text) }
                close(fd)
                open[path] = nil
                if attempt == 1 { return .missing }
            }
            return .missing
        }
    }

    /// Closes the descriptors of files under `directory` (it is being removed).
    func forget(under directory: String) {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        open.withLock { open in
            for (path, fd) in open where path.hasPrefix(prefix) {
                close(fd)
                open[path] = nil
            }
        }
    }

    /// The whole file from offset 0 (up to 1 MiB: counter files are small); nil on an error.
    static func readFromStart(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 8192)
        while data.count < 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(data.count)) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }
}
