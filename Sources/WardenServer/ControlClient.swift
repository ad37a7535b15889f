import CWardenSys
import Foundation
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// The CLI's end of the control socket.
public struct ControlClient: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Sends one request and returns the first answer line.
    public func send(_ request: ControlRequest) throws -> ControlResponse {
        let fd = try connect()
        defer { close(fd) }
        try write(fd, request)
        guard let line = Self.readLine(fd) else {
            throw WardenError(.io, "the running Warden closed the control connection without answering")
        }
        return try ControlCoding.decoder().decode(ControlResponse.self, from: Data(line.utf8))
    }

    /// Sends a follow request and calls `onResponse` for every answer line until the connection
    /// ends or `onResponse` returns false.
    public func stream(_ request: ControlRequest, onResponse: (ControlResponse) -> Bool) throws {
        let fd = try connect()
        defer { close(fd) }
        try write(fd, request)
        while let line = Self.readLine(fd) {
            let response = try ControlCoding.decoder().decode(ControlResponse.self, from: Data(line.utf8))
            if !onResponse(response) { return }
        }
    }

    private func connect() throws -> Int32 {
        let fd = warden_unix_connect(path)
        guard fd >= 0 else {
            throw WardenError(
                .notRunning,
                "cannot reach a running Warden at \(path): \(String(cString: strerror(errno)))"
            )
        }
        return fd
    }

    private func write(_ fd: Int32, _ request: ControlRequest) throws {
        var data = try ControlCoding.encoder().encode(request)
        data.append(UInt8(ascii: "\n"))
        let ok = data.withUnsafeBytes { raw -> Bool in
            var sent = 0
            while sent < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
        if !ok { throw WardenError(.io, "cannot send to the running Warden: \(String(cString: strerror(errno)))") }
    }

    private static func readLine(_ fd: Int32) -> String? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 1)
        while true {
            let n = recv(fd, &buffer, 1, 0)
            if n <= 0 { return data.isEmpty ? nil : String(decoding: data, as: UTF8.self) }
            if buffer[0] == UInt8(ascii: "\n") { return String(decoding: data, as: UTF8.self) }
            data.append(buffer[0])
        }
    }
}
