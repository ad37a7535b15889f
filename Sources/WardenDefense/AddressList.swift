import WardenCore

/// A list of addresses as blocklists are published: one address per line; blank lines and
/// comments (from `#` or `;` to the end of the line) are skipped, as is anything after the address
/// on its line. A range (`203.0.113.0/24`) is refused: bans are per address.
public enum AddressList {
    /// The most addresses one list may hold.
    public static let maxAddresses = 1_000_000

    /// What is wrong with a list: the line (from 1) and why.
    public struct Problem: Error, Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    /// The addresses of `text` in order, or the first line that is not one.
    public static func parse(_ text: String) -> Result<[IPAddress], Problem> {
        var addresses: [IPAddress] = []
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = raw[...]
            if let comment = line.firstIndex(where: { $0 == "#" || $0 == ";" }) { line = line[..<comment] }
            guard let word = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "," }).first
            else { continue }
            if word.contains("/") {
                return .failure(
                    Problem(line: number, message: "'\(word.prefix(60))' is a range; list single addresses")
                )
            }
            guard let address = IPAddress(String(word)) else {
                return .failure(
                    Problem(line: number, message: "found '\(word.prefix(60))'; expected an IPv4 or IPv6 address")
                )
            }
            guard addresses.count < maxAddresses else {
                return .failure(Problem(line: number, message: "at most \(maxAddresses) addresses per list"))
            }
            addresses.append(address)
        }
        return .success(addresses)
    }
}
