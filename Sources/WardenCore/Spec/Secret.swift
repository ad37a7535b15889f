import Foundation

/// A secret value that never shows itself in descriptions, logs or dumps.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The bytes of the secret.
    public let bytes: [UInt8]

    public init(_ value: String) { bytes = Array(value.utf8) }

    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var customMirror: Mirror { Mirror(self, children: []) }

    /// Whether `candidate` is exactly the secret, compared in time that depends only on the
    /// candidate's length: every candidate byte is compared (against the secret repeated), and the
    /// whole length difference takes part, so a prefix or a longer or shorter guess never matches.
    /// An empty secret matches nothing.
    public func matches<C: Collection>(_ candidate: C) -> Bool where C.Element == UInt8 {
        guard !bytes.isEmpty else { return false }
        var difference = UInt(bitPattern: bytes.count) ^ UInt(bitPattern: candidate.count)
        var i = 0
        for byte in candidate {
            difference |= UInt(bytes[i % bytes.count] ^ byte)
            i += 1
        }
        return difference == 0
    }
}
