import WardenCore

/// OpenSSH's messages: failed passwords and keys, invalid users, too many authentication
/// failures, and connections that end before authentication.
///
/// A line counts only when the program that wrote it is sshd: the syslog tag (the first word that
/// ends in `:`, within the header) must be `sshd[PID]:`, `sshd-session[PID]:` or
/// `sshd-auth[PID]:`; text elsewhere in the line that merely says "sshd" is another program's.
/// The address is the one OpenSSH itself wrote, found from the fixed parts of each message: right
/// after its fixed prefix (`Received disconnect from ADDR port N:…`, whose tail is the client's),
/// or right before its fixed ending (`Failed password for USER from ADDR port N ssh2`, whose user
/// name is the client's). Text a client chose (user names, disconnect reasons, banners) is never
/// where an address is read from; a line whose address cannot be told apart (possible only with
/// a crafted certificate in `Failed publickey`) gives no signal.
///
/// A local user can still write a syslog line with any tag (`logger -t 'sshd[1]'`); the journal
/// source names the program by the kernel's `_COMM`, which cannot be forged.
public struct SSHParser: LineParser {
    public init() {}

    @_optimize(speed)
    public func parse(_ line: UnsafeBufferPointer<UInt8>, emit: (String, IPAddress) -> Void) -> Bool {
        guard let tag = SyslogHeader(line) else { return false }
        guard tag.isProgram(["sshd", "sshd-session", "sshd-auth"]), tag.hasPID else { return true }
        var message = Message(line: line, start: tag.messageStart, end: line.count)
        if let signal = message.signal() { emit(signal.0, signal.1) }
        return true
    }
}

/// The tag of a syslog or journal line: the program and its pid, and where the message starts.
///
/// Syslog writes `TIMESTAMP HOST PROGRAM[PID]: MESSAGE` (RFC 3164 or RFC 3339 stamps); the
/// journal source writes `HOST PROGRAM[PID]: MESSAGE`. The tag is the first word ending in `:`
/// within the first six words.
struct SyslogHeader {
    let line: UnsafeBufferPointer<UInt8>
    let program: Range<Int>
    /// Whether the tag has a `[PID]` (of digits only).
    let hasPID: Bool
    let messageStart: Int

    init?(_ line: UnsafeBufferPointer<UInt8>) {
        self.line = line
        var words = 0
        var i = 0
        while words < 6 {
            while i < line.count && line[i] == 32 { i += 1 }
            let start = i
            while i < line.count && line[i] != 32 { i += 1 }
            // The first word that ends in ':' is the tag, even a lone ':' (a program without a name,
            // which is not sshd: what follows it is message text, whatever it looks like).
            if i > start && line[i - 1] == UInt8(ascii: ":") {
                var end = i - 1
                var hasPID = false
                if line[end - 1] == UInt8(ascii: "]"), let open = (start..<end).lastIndex(where: { line[$0] == 91 }) {
                    let digits = (open + 1)..<(end - 1)
                    guard digits.count <= 10, digits.allSatisfy({ (48...57).contains(line[$0]) }) else { return nil }
                    hasPID = !digits.isEmpty
                    end = open
                }
                self.program = start..<end
                self.hasPID = hasPID
                // After the space that follows the tag (or at the end of a line with no message).
                self.messageStart = min(i + 1, line.count)
                return
            }
            words += 1
        }
        return nil
    }

    /// Whether the program is one of `names`.
    func isProgram(_ names: [StaticString]) -> Bool {
        names.contains { name in
            name.utf8CodeUnitCount == program.count && Bytes.hasPrefix(line, at: program.lowerBound, name)
        }
    }
}

extension SSHParser {
    /// One OpenSSH message, between `start` and `end` (without a final ` [preauth]`).
    struct Message {
        let line: UnsafeBufferPointer<UInt8>
        let start: Int
        var end: Int
        var preauth = false

        init(line: UnsafeBufferPointer<UInt8>, start: Int, end: Int) {
            self.line = line
            self.start = start
            self.end = end
            if Self.hasSuffix(line, end: end, " [preauth]") {
                preauth = true
                self.end -= 10
            }
        }

        func has(_ prefix: StaticString) -> Bool { Bytes.hasPrefix(line, at: start, prefix) }

        /// The signal and the address of this message, or nil.
        mutating func signal() -> (String, IPAddress)? {
            if has("Failed ") {
                return failed().map { ("ssh.auth_failure", $0) }
            }
            if has("Invalid user ") || has("Illegal user ") {
                return addressAtEnd(tail: "", after: " from ").map { ("ssh.invalid_user", $0) }
            }
            if has("error: maximum authentication attempts exceeded for ") {
                return addressAtEnd(tail: " ssh2", after: " from ").map { ("ssh.max_auth", $0) }
            }
            if has("Disconnecting invalid user ") || has("Disconnecting authenticating user ")
                || has("Disconnecting user ")
            {
                return addressAtEnd(tail: ": Too many authentication failures", after: " ").map { ("ssh.max_auth", $0) }
            }
            // Always before authentication.
            for prefix: StaticString in [
                "Did not receive identification string from ", "Unable to negotiate with ",
                "banner exchange: Connection from ", "Timeout before authentication for ",
            ] where has(prefix) {
                return addressAfter(prefix).map { ("ssh.preauth", $0) }
            }
            if has("Bad protocol version identification ") {
                return addressAtEnd(tail: "", after: " from ").map { ("ssh.preauth", $0) }
            }
            guard preauth else { return nil }
            if has("Received disconnect from ") {
                return addressAfter("Received disconnect from ").map { ("ssh.preauth", $0) }
            }
            for prefix: StaticString in ["Connection closed by ", "Disconnected from ", "Connection reset by "]
            where has(prefix) {
                // `… by ADDR port N`, or `… by [invalid|authenticating] user NAME ADDR port N`.
                let after = start + prefix.utf8CodeUnitCount
                if Bytes.hasPrefix(line, at: after, "invalid user ")
                    || Bytes.hasPrefix(line, at: after, "authenticating user ")
                    || Bytes.hasPrefix(line, at: after, "user ")
                {
                    return addressAtEnd(tail: "", after: " ").map { ("ssh.preauth", $0) }
                }
                return addressAfter(prefix).map { ("ssh.preauth", $0) }
            }
            return nil
        }

        /// `Failed METHOD for [invalid user ]USER from ADDR port N ssh2[: KEY]`. Without a key
        /// description the line ends at `ssh2`; with one (publickey, hostbased) the description
        /// must have OpenSSH's shape, and exactly one place in the line may qualify.
        func failed() -> IPAddress? {
            if let a = addressAtEnd(tail: " ssh2", after: " from ") { return a }
            var found: IPAddress?
            var count = 0
            var from = start
            let marker: StaticString = " ssh2: "
            while let k = Bytes.find(UnsafeBufferPointer(rebasing: line[0..<end]), marker, from: from) {
                from = k + 1
                guard Self.isKeyDescription(line, start: k + marker.utf8CodeUnitCount, end: end) else { continue }
                var sub = self
                sub.end = k
                guard let a = sub.addressAtEnd(tail: "", after: " from ") else { continue }
                found = a
                count += 1
            }
            return count == 1 ? found : nil
        }

        /// The address of `ADDR port N` followed by `tail` at the very end of the message, with
        /// `after` right before the address.
        func addressAtEnd(tail: StaticString, after: StaticString) -> IPAddress? {
            guard Self.hasSuffix(line, end: end, tail) else { return nil }
            var i = end - tail.utf8CodeUnitCount
            let digitsEnd = i
            while i > start && (48...57).contains(line[i - 1]) { i -= 1 }
            guard digitsEnd - i >= 1, digitsEnd - i <= 5, Self.hasSuffix(line, end: i, " port ") else { return nil }
            let addressEnd = i - 6
            var addressStart = addressEnd
            while addressStart > start && line[addressStart - 1] != 32 { addressStart -= 1 }
            guard addressEnd > addressStart, Self.hasSuffix(line, end: addressStart, after) else { return nil }
            return IPAddress(bytes: UnsafeBufferPointer(rebasing: line[addressStart..<addressEnd]))
        }

        /// The address right after `prefix`, followed by ` port N` (and then the end, `:` or a
        /// space) or by the end of the message (old versions wrote no port).
        func addressAfter(_ prefix: StaticString) -> IPAddress? {
            let s = start + prefix.utf8CodeUnitCount
            var e = s
            while e < end && line[e] != 32 { e += 1 }
            guard e > s else { return nil }
            if e < end {
                guard Bytes.hasPrefix(line, at: e, " port ") else { return nil }
                var d = e + 6
                let digits = d
                while d < end && (48...57).contains(line[d]) { d += 1 }
                guard d > digits, d - digits <= 5, d == end || line[d] == UInt8(ascii: ":") || line[d] == 32 else {
                    return nil
                }
            }
            return IPAddress(bytes: UnsafeBufferPointer(rebasing: line[s..<e]))
        }

        static func hasSuffix(_ line: UnsafeBufferPointer<UInt8>, end: Int, _ suffix: StaticString) -> Bool {
            Bytes.hasPrefix(line, at: end - suffix.utf8CodeUnitCount, suffix)
        }

        /// OpenSSH's key description: `TYPE SHA256:FINGERPRINT`, or for a certificate
        /// `TYPE SHA256:FP ID KEYID (serial N) CA TYPE SHA256:FP` (the key id is the client's).
        static func isKeyDescription(_ line: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Bool {
            func token(_ i: inout Int) -> Range<Int>? {
                let s = i
                while i < end && line[i] != 32 { i += 1 }
                defer { i = min(i + 1, end) }
                return i > s ? s..<i : nil
            }
            func isFingerprint(_ r: Range<Int>) -> Bool {
                Bytes.hasPrefix(line, at: r.lowerBound, "SHA256:") || Bytes.hasPrefix(line, at: r.lowerBound, "MD5:")
            }
            var i = start
            guard token(&i) != nil, let fp = token(&i), isFingerprint(fp) else { return false }
            if i >= end { return fp.upperBound == end }
            // A certificate: ` ID … (serial N) CA TYPE FP` up to the end.
            guard Bytes.hasPrefix(line, at: i, "ID ") else { return false }
            var back = end
            func lastToken() -> Range<Int>? {
                let e = back
                while back > i && line[back - 1] != 32 { back -= 1 }
                defer { if back > i { back -= 1 } }
                return back < e ? back..<e : nil
            }
            guard let caFP = lastToken(), isFingerprint(caFP), lastToken() != nil, let ca = lastToken(),
                ca.count == 2, Bytes.hasPrefix(line, at: ca.lowerBound, "CA"), let serial = lastToken(),
                line[serial.upperBound - 1] == UInt8(ascii: ")"), let word = lastToken(), word.count == 7,
                Bytes.hasPrefix(line, at: word.lowerBound, "(serial")
            else { return false }
            return true
        }
    }
}
