import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A service's `NOTIFY_SOCKET`: a unix datagram socket on which it sends sd_notify messages.
///
/// Each service has its own socket, so a message's service is known from the socket it came in
/// on; the sender's pid (SO_PASSCRED) is passed along so that the supervisor can ignore messages
/// from processes that are not the service's. The socket path is stable across Warden restarts, so
/// an adopted service keeps notifying the new Warden.
public final class NotifySocket: Sendable {
    /// The value to put in the child's `NOTIFY_SOCKET`.
    public let path: String
    private let fd: Int32
    private let token: UInt64?

    /// Binds the socket and delivers each message to `onMessage` (on the IO thread).
    ///
    /// `path` longer than a unix socket address allows is replaced by an abstract-namespace name.
    public init(
        path requested: String,
        owner: Accounts.Identity?,
        onMessage: @escaping @Sendable (NotifyMessage, pid_t) -> Void
    ) throws {
        var path = requested
        if path.utf8.count >= 108 {
            // Deterministic, so that a service adopted after a Warden restart still reaches it.
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in requested.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            path = "@warden-notify-" + String(hash, radix: 16)
        }
        let fd = warden_notify_socket(path)
        guard fd >= 0 else { throw SystemError("binding notify socket \(path)", errno: errno) }
        if let owner, !path.hasPrefix("@") {
            _ = chown(path, owner.uid, owner.gid)
        }
        if !path.hasPrefix("@") { _ = chmod(path, 0o660) }
        self.path = path
        self.fd = fd
        self.token = IOWatcher.shared.add(fd: fd) { _ in
            var buffer = [CChar](repeating: 0, count: 4096)
            while true {
                var pid: pid_t = 0
                let n = warden_notify_recv(fd, &buffer, buffer.count - 1, &pid)
                if n < 0 { return }
                let text = buffer.withUnsafeBufferPointer { raw in
                    String(decoding: UnsafeRawBufferPointer(start: raw.baseAddress, count: Int(n)), as: UTF8.self)
                }
                onMessage(NotifyMessage(text), pid)
            }
        }
    }

    /// Stops listening and removes the socket file.
    public func close() {
        if let token { IOWatcher.shared.remove(token) }
        Glibc.close(fd)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// Sends `message` to a notify socket, as `sd_notify(3)` does (for tests and `warden-sample`).
    public static func send(_ message: String, to path: String) -> Bool {
        warden_notify_send(path, message, message.utf8.count) == 0
    }
}
