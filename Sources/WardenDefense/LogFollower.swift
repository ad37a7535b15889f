import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// Follows a log file like `tail -F`, on its own thread, woken by inotify.
///
/// Starts at the end (or the start, when asked), or where it stopped last time: the position
/// (inode and offset) is reported after each batch so the caller can keep it, and a follower
/// given a saved position never reads a line twice. Rotation by rename is followed (the old file
/// is read to its end first, then the new one from its start), and so is truncation in place
/// (copytruncate): reading starts over at 0. A file that does not exist yet is waited for.
public final class LogFollower: Sendable {
    public struct Position: Sendable, Hashable, Codable {
        public var inode: UInt64
        public var offset: Int64
        public init(inode: UInt64, offset: Int64) {
            self.inode = inode
            self.offset = offset
        }
    }

    public let path: String
    let fromStart: Bool
    let saved: Position?
    let onLine: @Sendable (UnsafeBufferPointer<UInt8>) -> Void
    let onPosition: @Sendable (Position) -> Void
    /// A pipe: writing to [1] wakes the thread to stop.
    let stopPipe: (Int32, Int32)
    let running = Mutex(true)
    let finished = Mutex(false)

    /// Lines longer than this are cut (the rest is dropped up to the next newline).
    static let maxLine = 64 * 1024

    /// - Parameters:
    ///   - onLine: called on the follower's thread with each complete line (without its newline).
    ///   - onPosition: called after each batch with the position just past the last complete line.
    public init(
        path: String,
        fromStart: Bool,
        saved: Position?,
        onLine: @escaping @Sendable (UnsafeBufferPointer<UInt8>) -> Void,
        onPosition: @escaping @Sendable (Position) -> Void
    ) {
        self.path = path
        self.fromStart = fromStart
        self.saved = saved
        self.onLine = onLine
        self.onPosition = onPosition
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        self.stopPipe = (fds[0], fds[1])
    }

    /// Starts the thread.
    /// Starts the thread; returns once the file (if it exists) is open at its starting position,
    /// so that every line written after `start` returns is read.
    public func start() {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            self.loop(ready: ready)
            self.finished.withLock { $0 = true }
        }
        thread.name = "warden-follow"
        thread.start()
        ready.wait()
    }

    /// Stops the thread and waits for it (the last position has been reported when this returns).
    public func stop() {
        running.withLock { $0 = false }
        var one: UInt8 = 1
        _ = write(stopPipe.1, &one, 1)
        while !finished.withLock({ $0 }) { usleep(1000) }
        close(stopPipe.0)
        close(stopPipe.1)
    }

    // MARK: - The thread

    struct Open {
        var fd: Int32
        var inode: UInt64
        var offset: Int64
        var watch: Int32
    }

    func loop(ready: DispatchSemaphore) {
        let inotify = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        defer { close(inotify) }
        let dir = (path as NSString).deletingLastPathComponent
        _ = inotify_add_watch(inotify, dir.isEmpty ? "." : dir, UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM))
        var carry: [UInt8] = []
        var skipping = false
        var current: Open?
        var firstOpen = true
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)

        func openFile() {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { return }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                close(fd)
                return
            }
            let inode = UInt64(st.st_ino)
            var offset: Int64 = 0
            if firstOpen {
                if let saved {
                    // Same file: go on where we stopped; another file (rotated while Warden was
                    // down): everything in it is new.
                    offset = saved.inode == inode && saved.offset <= Int64(st.st_size) ? saved.offset : 0
                } else {
                    offset = fromStart ? 0 : Int64(st.st_size)
                }
            }
            firstOpen = false
            let watch = inotify_add_watch(inotify, path, UInt32(IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF))
            current = Open(fd: fd, inode: inode, offset: offset, watch: watch)
            carry.removeAll(keepingCapacity: true)
            skipping = false
            onPosition(Position(inode: inode, offset: offset))
        }

        /// Reads what the open file has past our offset; delivers complete lines.
        func drain() {
            guard var f = current else { return }
            var delivered = false
            while true {
                let n = buffer.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, $0.count, off_t(f.offset)) }
                if n <= 0 { break }
                f.offset += Int64(n)
                buffer.withUnsafeBufferPointer { all in
                    let chunk = UnsafeBufferPointer(rebasing: all[0..<n])
                    var start = 0
                    while start < n {
                        guard let nl = memchr(chunk.baseAddress! + start, 10, n - start) else {
                            if !skipping {
                                carry.append(contentsOf: chunk[start..<n])
                                if carry.count > Self.maxLine {
                                    carry.withUnsafeBufferPointer {
                                        onLine(UnsafeBufferPointer(rebasing: $0[0..<Self.maxLine]))
                                    }
                                    carry.removeAll(keepingCapacity: true)
                                    skipping = true
                                }
                            }
                            break
                        }
                        let end = chunk.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                        if skipping {
                            skipping = false
                        } else if carry.isEmpty {
                            onLine(UnsafeBufferPointer(rebasing: chunk[start..<end]))
                        } else {
                            carry.append(contentsOf: chunk[start..<end])
                            carry.withUnsafeBufferPointer { onLine($0) }
                            carry.removeAll(keepingCapacity: true)
                        }
                        start = end + 1
                    }
                }
                delivered = true
            }
            current = f
            if delivered { onPosition(Position(inode: f.inode, offset: f.offset - Int64(carry.count))) }
        }

        func checkRotation() {
            var st = stat()
            guard stat(path, &st) == 0 else { return }  // gone: keep reading the old one until a new one appears
            guard let f = current else {
                openFile()
                return
            }
            if UInt64(st.st_ino) != f.inode {
                // Renamed away (or replaced): finish the old file, then follow the new one from 0.
                drain()
                if !carry.isEmpty {
                    carry.withUnsafeBufferPointer { onLine($0) }
                    carry.removeAll()
                }
                inotify_rm_watch(inotify, f.watch)
                close(f.fd)
                current = nil
                openFile()
                drain()
            } else if Int64(st.st_size) < f.offset {
                // Truncated in place: start over.
                current?.offset = 0
                carry.removeAll(keepingCapacity: true)
                skipping = false
                drain()
            }
        }

        openFile()
        // A file that appears later is new: read from its start.
        firstOpen = false
        ready.signal()
        drain()
        var fds = [
            pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stopPipe.0, events: Int16(POLLIN), revents: 0),
        ]
        var events = [UInt8](repeating: 0, count: 4096)
        while running.withLock({ $0 }) {
            _ = poll(&fds, 2, 500)
            if fds[1].revents != 0 { break }
            if fds[0].revents != 0 {
                while events.withUnsafeMutableBytes({ read(inotify, $0.baseAddress, $0.count) }) > 0 {}
            }
            if current == nil { openFile() }
            drain()
            checkRotation()
        }
        drain()
        if let f = current {
            close(f.fd)
        }
    }
}
