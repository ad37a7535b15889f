import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a cgroup operation failed: the file and the system's reason.
public struct CgroupError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)))
    }

    public var description: String { "\(path): \(reason)" }
}

/// The few file operations cgroups need. The kernel's is ``KernelCgroupFiles``; tests of cgroup v2
/// on a host that has only v1 give one that follows v2's documented layout.
public protocol CgroupFileSystem: Sendable {
    /// The file's contents, or nil when it cannot be read.
    func read(_ path: String) -> String?
    /// Writes `text` in one write(2), as the kernel expects of a cgroup file.
    func write(_ path: String, _ text: String) throws(CgroupError)
    /// Creates a directory (a cgroup); an existing one is fine.
    func makeDirectory(_ path: String) throws(CgroupError)
    /// Removes an empty cgroup; false when it cannot (still populated, gone, not permitted).
    @discardableResult func removeDirectory(_ path: String) -> Bool
    /// Whether the path exists.
    func exists(_ path: String) -> Bool
    /// Opens a file for writing, close-on-exec, for a child to write to between fork and exec.
    func openForWriting(_ path: String) throws(CgroupError) -> Int32
    /// The contents of a file read again and again (a counter sampled every few seconds): the
    /// same as ``read(_:)``, but a file system may keep the file open between calls.
    func reread(_ path: String) -> String?
}

extension CgroupFileSystem {
    public func reread(_ path: String) -> String? { read(path) }
}

/// Cgroup files as the kernel serves them.
public struct KernelCgroupFiles: CgroupFileSystem {
    let kept: KeptDescriptors

    /// - Parameter keep: how many counter files ``reread(_:)`` may keep open (never more than an
    ///   eighth of the process's descriptor limit); files beyond it are opened for each read.
    public init(keep: Int = 1024) {
        kept = KeptDescriptors(limit: keep)
    }

    /// Counter files kept open: a read is one pread(2), without the path lookup an open costs
    /// (the larger part of sampling many services' cgroups).
    public func reread(_ path: String) -> String? {
        // A file that cannot be opened is not tried twice; one beyond the limit is read as usual.
        switch kept.read(path) {
        case .text(let text): text
        case .missing: nil
        case .notKept: read(path)
        }
    }

    public func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Cgroup files are small; cgroup.procs of a large group is the one that can grow.
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        while data.count < 4 << 20 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    public func write(_ path: String, _ text: String) throws(CgroupError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError(path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var n: Int
        repeat {
            n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        if n < 0 { throw CgroupError(path: path, errno: errno) }
    }

    public func makeDirectory(_ path: String) throws(CgroupError) {
        if mkdir(path, 0o755) != 0, errno != EEXIST { throw CgroupError(path: path, errno: errno) }
    }

    @discardableResult public func removeDirectory(_ path: String) -> Bool {
        kept.forget(under: path)
        return rmdir(path) == 0
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public func openForWriting(_ path: String) throws(CgroupError) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError(path: path, errno: errno) }
        return fd
    }
}
