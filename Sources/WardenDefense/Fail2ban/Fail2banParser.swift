import Foundation
import WardenCore

/// A fail2ban jail's filter as a watch's parser: each line its filter counts as a failure emits
/// the jail's signal for the address it names. Like a user's pattern, a filter describes only
/// what it looks for, so every line is "recognized". Host names are not resolved (fail2ban's
/// `usedns` would look them up): a match that names no address emits nothing.
public struct Fail2banParser: LineParser {
    let matcher: Fail2banMatcher
    let signal: String

    public init(jail: Fail2banJail) throws {
        let filter = try Fail2banFilter.load(jail.filterPath, initOptions: jail.filterOptions)
        matcher = try Fail2banMatcher(filter)
        signal = jail.signal
    }

    public func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (String, IPAddress) -> Void) -> Bool {
        // fail2ban reads lines of at most some kilobytes the same way: longer ones are cut.
        let text = String(decoding: UnsafeBufferPointer(rebasing: line[0..<min(line.count, 8192)]), as: UTF8.self)
        let (matched, host) = matcher.failure(in: text)
        if matched, let host, let address = IPAddress(host) { emit(signal, address) }
        return true
    }
}
