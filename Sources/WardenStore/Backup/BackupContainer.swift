import Crypto
import Foundation

/// The file a backup is kept in: a header, then the snapshot in chunks, then an end record.
///
/// ```
/// "WDNBKP01"  flags(1: encrypted)  chunk size (UInt32 BE)  salt (32 bytes, when encrypted)
/// per chunk:  length (UInt32 BE)  bytes (plain, or AES-256-GCM: nonce, ciphertext, tag)
/// end:        length 0  total plain bytes (UInt64 BE)
/// ```
///
/// Encrypted chunks are sealed with a key derived from the backup key and the salt (HKDF-SHA256)
/// and authenticate their index and whether they are the last, so a chunk that is changed,
/// dropped, repeated or moved, or a file cut short, is refused, as is a wrong key.
public enum BackupContainer {
    static let magic = Array("WDNBKP01".utf8)
    public static let chunkSize = 4 << 20

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    static func derive(_ key: [UInt8], salt: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: key),
            salt: salt,
            info: Array("warden backup v1".utf8),
            outputByteCount: 32
        )
    }

    /// `source` for reading and `destination` made empty for writing.
    static func open(_ source: String, _ destination: String) throws -> (FileHandle, FileHandle) {
        guard let input = FileHandle(forReadingAtPath: source) else { throw Failure(message: "cannot read \(source)") }
        guard FileManager.default.createFile(atPath: destination, contents: nil),
            let output = FileHandle(forWritingAtPath: destination)
        else {
            try? input.close()
            throw Failure(message: "cannot write \(destination)")
        }
        return (input, output)
    }

    static func aad(_ index: UInt64, last: Bool) -> [UInt8] {
        withUnsafeBytes(of: index.bigEndian, Array.init) + [last ? 1 : 0]
    }

    /// Writes `source` into a container at `destination`; returns the plain bytes' SHA-256 and
    /// size. `key` nil: not encrypted.
    public static func write(
        source: String,
        destination: String,
        key: [UInt8]?,
        chunkSize: Int = BackupContainer.chunkSize
    ) throws -> (sha256: String, size: Int64) {
        let (input, output) = try open(source, destination)
        defer {
            try? input.close()
            try? output.close()
        }
        var salt = [UInt8]()
        var header = magic + [key == nil ? 0 : 1] + withUnsafeBytes(of: UInt32(chunkSize).bigEndian, Array.init)
        if key != nil {
            salt = (0..<32).map { _ in UInt8.random(in: 0...255) }
            header += salt
        }
        try output.write(contentsOf: header)
        let sealKey = key.map { derive($0, salt: salt) }
        var hasher = SHA256()
        var total: Int64 = 0
        var index: UInt64 = 0
        var pending = try input.read(upToCount: chunkSize) ?? Data()
        while !pending.isEmpty {
            let next = try input.read(upToCount: chunkSize) ?? Data()
            hasher.update(data: pending)
            total += Int64(pending.count)
            var body = pending
            if let sealKey {
                body = try AES.GCM.seal(pending, using: sealKey, authenticating: aad(index, last: next.isEmpty))
                    .combined!
            }
            try output.write(contentsOf: withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init))
            try output.write(contentsOf: body)
            index += 1
            pending = next
        }
        try output.write(contentsOf: [0, 0, 0, 0] + withUnsafeBytes(of: UInt64(total).bigEndian, Array.init))
        try output.synchronize()
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), total)
    }

    /// Reads a container at `source` into `destination` (plain), checking every chunk; returns the
    /// plain bytes' SHA-256 and size. Throws, leaving `destination` incomplete, on any damage.
    public static func read(source: String, destination: String, key: [UInt8]?) throws -> (sha256: String, size: Int64)
    {
        let (input, output) = try open(source, destination)
        defer {
            try? input.close()
            try? output.close()
        }
        func exactly(_ n: Int, _ what: String) throws -> [UInt8] {
            let data = try input.read(upToCount: n) ?? Data()
            guard data.count == n else { throw Failure(message: "the backup is cut short (in \(what))") }
            return Array(data)
        }
        let head = try exactly(magic.count + 5, "the header")
        guard Array(head.prefix(magic.count)) == magic else { throw Failure(message: "not a Warden backup") }
        guard head[magic.count] <= 1 else { throw Failure(message: "the header is damaged") }
        let encrypted = head[magic.count] == 1
        // A key given means an authenticated backup is expected: a plain one could be anyone's.
        guard encrypted || key == nil else {
            throw Failure(message: "a key was given but the backup is not encrypted (nothing authenticates it)")
        }
        let size = head.suffix(4).reduce(0) { $0 << 8 | Int($1) }
        guard size > 0, size <= 64 << 20 else { throw Failure(message: "the header is damaged") }
        var openKey: SymmetricKey?
        if encrypted {
            guard let key else { throw Failure(message: "the backup is encrypted: give its key") }
            openKey = derive(key, salt: try exactly(32, "the header"))
        }
        var hasher = SHA256()
        var total: Int64 = 0
        var index: UInt64 = 0
        var sawLast = !encrypted
        while true {
            let length = try exactly(4, "a chunk's length").reduce(0) { $0 << 8 | Int($1) }
            if length == 0 { break }
            guard length <= size + 64 else { throw Failure(message: "chunk \(index) is damaged") }
            if sawLast && encrypted { throw Failure(message: "data after the last chunk") }
            var body = Data(try exactly(length, "chunk \(index)"))
            if let openKey {
                let box: AES.GCM.SealedBox
                do { box = try AES.GCM.SealedBox(combined: body) } catch {
                    throw Failure(message: "chunk \(index) is damaged")
                }
                if let plain = try? AES.GCM.open(box, using: openKey, authenticating: aad(index, last: false)) {
                    body = plain
                } else if let plain = try? AES.GCM.open(box, using: openKey, authenticating: aad(index, last: true)) {
                    body = plain
                    sawLast = true
                } else {
                    throw Failure(
                        message: index == 0
                            ? "the key does not open this backup (or its first chunk is damaged)"
                            : "chunk \(index) is damaged or out of place"
                    )
                }
            }
            hasher.update(data: body)
            total += Int64(body.count)
            try output.write(contentsOf: body)
            index += 1
        }
        let stated = try exactly(8, "the end record").reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard stated == total, sawLast || total == 0 else { throw Failure(message: "the backup is cut short") }
        guard (try input.read(upToCount: 1) ?? Data()).isEmpty else {
            throw Failure(message: "data after the end record")
        }
        try output.synchronize()
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), total)
    }
}
