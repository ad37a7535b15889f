#if canImport(Glibc)
import Glibc
#endif

/// Writing a whole buffer to a descriptor.
public enum WriteAll {
    /// Hands `bytes` to `put` (a `write` or `send` on one descriptor: it gets the unsent rest and
    /// returns how much it took, or -1 with `errno` set) until all of it is taken: again after a
    /// partial write, again after `EINTR`. `once`: a single call is the whole message (a
    /// datagram). Returns the `errno` of the call that failed, or nil when everything went.
    public static func write(
        _ bytes: [UInt8],
        once: Bool = false,
        _ put: (UnsafeRawPointer, Int) -> Int
    ) -> Int32? {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { put($0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            written += n
            if once { break }
        }
        return nil
    }
}
