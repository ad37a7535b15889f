import Testing
import WardenCore

@testable import WardenDefense

@Suite("Log parsers")
struct ParserTests {
    func run(_ parser: any LineParser, _ line: String) -> (known: Bool, signals: [String]) {
        var copy = line
        var signals: [String] = []
        let known = copy.withUTF8 { bytes in
            parser.parse(bytes) { name, address in signals.append("\(name) \(address)") }
        }
        return (known, signals)
    }

    /// Every name the spec accepts as built in makes a parser; a spec's own name needs its pattern.
    @Test func everyBuiltInParserNameMakesAParser() {
        for name in BuiltInParser.allCases {
            #expect(LineParsers.make(name.rawValue, patterns: []) != nil, "\(name)")
        }
        #expect(LineParsers.make("app", patterns: []) == nil)
        #expect(
            LineParsers.make(
                "app",
                patterns: [LogPatternSpec(name: "app", pattern: "from (?<addr>\\S+)", signal: "app.x")]
            ) != nil
        )
    }

    @Test func openSSHMessagesBecomeSignals() {
        let p = SSHParser()
        let cases: [(String, [String])] = [
            (
                "Nov 24 10:00:00 host sshd[812]: Failed password for root from 203.0.113.5 port 52344 ssh2",
                ["ssh.auth_failure 203.0.113.5"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Failed password for invalid user admin from 2001:db8::66 port 52344 ssh2",
                ["ssh.auth_failure 2001:db8::66"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Failed publickey for git from 203.0.113.5 port 1 ssh2: RSA SHA256:x",
                ["ssh.auth_failure 203.0.113.5"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Invalid user oracle from 198.51.100.4 port 40022",
                ["ssh.invalid_user 198.51.100.4"]
            ),
            (
                "2026-11-24T10:00:00.123+00:00 host sshd-session[9]: error: maximum authentication attempts exceeded for root from 198.51.100.4 port 2 ssh2 [preauth]",
                ["ssh.max_auth 198.51.100.4"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Disconnecting authenticating user root 198.51.100.4 port 22: Too many authentication failures [preauth]",
                ["ssh.max_auth 198.51.100.4"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Connection closed by 192.0.2.7 port 3 [preauth]",
                ["ssh.preauth 192.0.2.7"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Connection closed by authenticating user root 192.0.2.7 port 3 [preauth]",
                ["ssh.preauth 192.0.2.7"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Connection reset by 192.0.2.7 port 3 [preauth]",
                ["ssh.preauth 192.0.2.7"]
            ),
            (
                "Nov 24 10:00:00 host sshd[812]: Did not receive identification string from 192.0.2.8 port 4",
                ["ssh.preauth 192.0.2.8"]
            ),
            ("Nov 24 10:00:00 host sshd[812]: Accepted publickey for deploy from 192.0.2.9 port 5 ssh2", []),
            ("Nov 24 10:00:00 host sshd[812]: Connection closed by 192.0.2.9 port 5", []),
            // A user name that tries to frame someone else: the address is read from the end.
            (
                "Nov 24 10:00:00 host sshd[812]: Invalid user x from 6.6.6.6 port 1 from 203.0.113.9 port 41000",
                ["ssh.invalid_user 203.0.113.9"]
            ),
            // Older OpenSSH wrote no port after the address.
            (
                "Nov 24 10:00:00 host sshd[812]: Did not receive identification string from 203.0.113.11",
                ["ssh.preauth 203.0.113.11"]
            ),
        ]
        for (line, expected) in cases {
            let r = run(p, line)
            #expect(r.known, "\(line)")
            #expect(r.signals == expected, "\(line)")
        }
        // Other programs share the file: known (the format is intact), no signal.
        #expect(
            run(p, "Nov 24 10:00:00 host sshd[812]: Received disconnect from 192.0.2.9 port 5:11: bye").signals.isEmpty
        )
        #expect(run(p, "Nov 24 10:00:00 host CRON[1]: pam_unix(cron:session): session opened").known)
        #expect(run(p, "2026-11-24T10:00:00.1+00:00 host kernel: eth0: link up").known)
        #expect(run(p, "Nov 24 10:00:00 host CRON[1]: session opened").signals.isEmpty)
        // The tag is the first word that ends in ':', however short: another program ("a") whose
        // message starts with an sshd tag is not sshd.
        let forged = "Nov 24 10:00:00 host a: sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
        #expect(run(p, forged).known)
        #expect(run(p, forged).signals.isEmpty)
        // A program without a name: its message may look like an sshd tag, it is still not sshd.
        let nameless = "Nov 24 10:00:00 host : sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"
        #expect(run(p, nameless).known)
        #expect(run(p, nameless).signals.isEmpty)
        // The tag is within the first six words; an empty line has none.
        #expect(!run(p, "a b c d e f sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2").known)
        #expect(run(p, "a b c d e sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2").signals.count == 1)
        #expect(!run(p, "").known)
        #expect(!run(p, "   ").known)
        // A port needs a number.
        #expect(
            run(p, "Nov 24 10:00:00 host sshd[1]: Did not receive identification string from 203.0.113.5 port ")
                .signals.isEmpty
        )
        // Five-digit ports.
        #expect(
            run(p, "Nov 24 10:00:00 host sshd[1]: Did not receive identification string from 203.0.113.5 port 65535")
                .signals == ["ssh.preauth 203.0.113.5"]
        )
        #expect(
            run(p, "Nov 24 10:00:00 host sshd[1]: Did not receive identification string from 203.0.113.5 port 655350")
                .signals.isEmpty
        )
        // A pid is at most ten digits; a longer one is no syslog tag.
        #expect(
            !run(p, "Nov 24 10:00:00 host sshd[12345678901]: Failed password for root from 203.0.113.5 port 1 ssh2")
                .known
        )
        #expect(
            run(p, "Nov 24 10:00:00 host sshd[1234567890]: Failed password for root from 203.0.113.5 port 1 ssh2")
                .signals.count == 1
        )
        #expect(!run(p, "garbage").known)
        #expect(!run(p, "2026-11-24 10:00:00,000 auth WARNING login failure src=203.0.113.1").known)
    }

    /// Each line a client (or a local user) can shape to get someone else banned, or to hide its
    /// own failures. The address must be the one OpenSSH put there, or there is no signal.
    @Test func noClientChosenTextDecidesTheAddress() {
        let p = SSHParser()
        let h = "Nov 24 10:00:00 host sshd[812]: "
        let cases: [(String, [String])] = [
            // The disconnect text after the colon is the client's.
            (
                h + "Received disconnect from 203.0.113.7 port 4000:11: bye 6.6.6.6 port 22 [preauth]",
                ["ssh.preauth 203.0.113.7"]
            ),
            (
                h + "Received disconnect from 203.0.113.7 port 4000:11: bye port 1 [preauth]",
                ["ssh.preauth 203.0.113.7"]
            ),
            (
                h + "Received disconnect from 203.0.113.7 port 4000:11: x from 6.6.6.6 port 22 ssh2 [preauth]",
                ["ssh.preauth 203.0.113.7"]
            ),
            // The user name is the client's: wherever it says "from", the end decides.
            (
                h + "Failed password for x from 6.6.6.6 port 22 ssh2 from 203.0.113.8 port 41000 ssh2",
                ["ssh.auth_failure 203.0.113.8"]
            ),
            (
                h + "Failed password for invalid user a port 1 ssh2 from 203.0.113.8 port 41000 ssh2",
                ["ssh.auth_failure 203.0.113.8"]
            ),
            (h + "Invalid user x from 6.6.6.6 port 22 from 203.0.113.8 port 41000", ["ssh.invalid_user 203.0.113.8"]),
            (
                h + "Connection closed by invalid user 6.6.6.6 port 22 203.0.113.8 port 41000 [preauth]",
                ["ssh.preauth 203.0.113.8"]
            ),
            (
                h + "Disconnected from authenticating user root 6.6.6.6 port 1 203.0.113.8 port 2 [preauth]",
                ["ssh.preauth 203.0.113.8"]
            ),
            (
                h
                    + "Disconnecting invalid user x 6.6.6.6 port 1: Too many authentication failures 203.0.113.8 port 2: Too many authentication failures [preauth]",
                ["ssh.max_auth 203.0.113.8"]
            ),
            // The client's banner and key offer.
            (
                h + "Bad protocol version identification 'SSH-1.0 from 6.6.6.6 port 1' from 203.0.113.9 port 5",
                ["ssh.preauth 203.0.113.9"]
            ),
            (
                h
                    + "Unable to negotiate with 203.0.113.9 port 5: no matching key exchange method found. Their offer: 6.6.6.6 port 1 [preauth]",
                ["ssh.preauth 203.0.113.9"]
            ),
            // A key description is OpenSSH's; a certificate's key id is the client's.
            (
                h + "Failed publickey for git from 203.0.113.10 port 1 ssh2: ED25519 SHA256:abc",
                ["ssh.auth_failure 203.0.113.10"]
            ),
            (
                h
                    + "Failed publickey for x from 6.6.6.6 port 1 ssh2: RSA SHA256:a from 203.0.113.10 port 2 ssh2: RSA SHA256:b",
                ["ssh.auth_failure 203.0.113.10"]
            ),
            (
                h
                    + "Failed publickey for git from 203.0.113.10 port 1 ssh2: RSA-CERT SHA256:a ID x from 6.6.6.6 port 2 ssh2: RSA SHA256:z (serial 1) CA RSA SHA256:c",
                ["ssh.auth_failure 203.0.113.10"]
            ),
            // Ambiguous (the user name and the certificate both imitate the end): no signal.
            (
                h
                    + "Failed publickey for a from 6.6.6.6 port 1 ssh2: RSA-CERT SHA256:a ID k from 203.0.113.10 port 2 ssh2: RSA-CERT SHA256:b ID z (serial 1) CA RSA SHA256:c",
                []
            ),
            // "[preauth]" counts only at the very end.
            (h + "Received disconnect from 203.0.113.7 port 4000:11: [preauth] bye", []),
            // Another program's line that mentions sshd, and a logger line without sshd's pid.
            ("Nov 24 10:00:00 host root: x sshd: Failed password for root from 6.6.6.6 port 22 ssh2", []),
            ("Nov 24 10:00:00 host sshd: Failed password for root from 6.6.6.6 port 22 ssh2", []),
            ("Nov 24 10:00:00 host CRON[3]: sshd[1]: Failed password for root from 6.6.6.6 port 22 ssh2", []),
            ("Nov 24 10:00:00 host sshdx[1]: Failed password for root from 6.6.6.6 port 22 ssh2", []),
            // What the journal source writes.
            (
                "node sshd-session[77]: Failed password for root from 203.0.113.11 port 22 ssh2",
                ["ssh.auth_failure 203.0.113.11"]
            ),
            ("node sshd-auth[77]: Invalid user a from 203.0.113.11 port 22", ["ssh.invalid_user 203.0.113.11"]),
        ]
        for (line, expected) in cases {
            let r = run(p, line)
            #expect(r.known, "\(line)")
            #expect(r.signals == expected, "\(line)")
        }
    }

    @Test func accessLogsReport4xxAndScanners() {
        let p = AccessLogParser()
        let base = #"203.0.113.5 - - [24/Nov/2026:10:00:00 +0000] "GET "#
        #expect(run(p, base + #"/index.html HTTP/1.1" 200 512 "-" "curl/8""#).signals.isEmpty)
        #expect(run(p, base + #"/nope HTTP/1.1" 404 0 "-" "x""#).signals == ["http.4xx 203.0.113.5"])
        #expect(
            run(p, base + #"/WP-LOGIN.php?x=1 HTTP/1.1" 404 0 "-" "x""#).signals == [
                "http.4xx 203.0.113.5", "http.scanner 203.0.113.5",
            ]
        )
        #expect(run(p, base + #"/.env HTTP/1.1" 200 12"#).signals == ["http.scanner 203.0.113.5"])
        // A quote in the request is escaped by the server: it does not end the request early.
        #expect(run(p, base + #"/a\" 404 1 \"x HTTP/1.1" 200 5 "-" "x""#).signals.isEmpty)
        #expect(run(p, base + #"/a\\" 404 0 "-" "x""#).signals == ["http.4xx 203.0.113.5"])
        // The address is the first field, which the server writes; the user field cannot move it.
        #expect(
            run(p, #"203.0.113.5 - 6.6.6.6 [24/Nov/2026:10:00:00 +0000] "GET /x HTTP/1.1" 404 0"#).signals == [
                "http.4xx 203.0.113.5"
            ]
        )
        #expect(!run(p, "not an access log line").known)
        #expect(!run(p, "203.0.113.5 - - [24/Nov/2026] \"GET / HTTP/1.1\" abc 0").known)
    }

    @Test func userPatternsCaptureTheAddress() throws {
        let p = try #require(
            PatternParser(
                LogPatternSpec(name: "app", pattern: #"login failed .* ip=(?<addr>\S+)"#, signal: "app.login_failed")
            )
        )
        #expect(run(p, "12:00 login failed for bob ip=198.51.100.23").signals == ["app.login_failed 198.51.100.23"])
        #expect(run(p, "12:00 login ok for bob ip=198.51.100.23").signals.isEmpty)
        #expect(run(p, "12:00 login failed for bob ip=not-an-address").signals.isEmpty)
        // A pattern describes only what it looks for: every other line is still a known one.
        #expect(run(p, "12:00 something else entirely").known)
    }

    /// Access-log edges: a one-digit first octet, a query string that names a scanner path, a
    /// line cut short after the request.
    @Test func accessLogEdges() {
        let p = AccessLogParser()
        let head = #"9.8.7.6 - - [24/Nov/2026:10:00:00 +0000] "#
        #expect(run(p, head + #""GET /nope HTTP/1.1" 404 0"#).signals == ["http.4xx 9.8.7.6"])
        // Only the path counts, not what its query string mentions.
        #expect(run(p, head + #""GET /search?q=/wp-login.php HTTP/1.1" 200 5"#).signals.isEmpty)
        #expect(run(p, head + #""GET /a/.git/config HTTP/1.1" 200 5"#).signals == ["http.scanner 9.8.7.6"])
        // Cut short: no status after the request is no access-log line.
        #expect(!run(p, head + #""GET / HTTP/1.1""#).known)
        #expect(!run(p, head + #""GET / HTTP/1.1" 40"#).known)
        #expect(run(p, head + #""GET / HTTP/1.1" 404"#).signals == ["http.4xx 9.8.7.6"])
        // Not access-log lines: no space at all, a request that never ends, a status that is not three digits.
        #expect(!run(p, "garbage").known)
        #expect(!run(p, head + #""GET / HTTP/1.1 404 0"#).known)
        #expect(!run(p, head + #""GET / HTTP/1.1" 4x4 0"#).known)
        #expect(!run(p, head + #""GET / HTTP/1.1" 44x 0"#).known)
        // Paths are matched on their first 256 bytes.
        let long = String(repeating: "a", count: 242)  // "/" + 242 + "/wp-login.php" = 256 bytes
        #expect(run(p, head + "\"GET /\(long)/wp-login.php HTTP/1.1\" 200 5").signals == ["http.scanner 9.8.7.6"])
        #expect(run(p, head + "\"GET /\(long)a/wp-login.php HTTP/1.1\" 200 5").signals.isEmpty)
        // A request without a path asks for nothing a scanner asks for.
        #expect(run(p, head + #""-" 400 0"#).signals == ["http.4xx 9.8.7.6"])
    }

    /// The byte searches the parsers are built on, at their edges.
    @Test func byteSearchesAtTheirEdges() {
        func bytes(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
            var t = text
            t.withUTF8(body)
        }
        bytes("a:b") { b in
            #expect(Bytes.find(b, ":") == 1, "a one-byte needle")
            #expect(Bytes.find(b, "a:b") == 0, "the whole buffer")
            #expect(Bytes.find(b, "b", from: 2) == 2)
            #expect(Bytes.find(b, "a:b:") == nil)
            #expect(Bytes.hasPrefix(b, at: 0, "a:"))
            #expect(Bytes.hasPrefix(b, at: 2, "b"))
            #expect(!Bytes.hasPrefix(b, at: 2, "b:"), "runs past the end")
            #expect(!Bytes.hasPrefix(b, at: -1, "a"), "starts before the buffer")
        }
        bytes("a:b:") { line in
            let part = UnsafeBufferPointer(rebasing: line[0..<3])
            #expect(!Bytes.hasPrefix(part, at: 2, "b:"), "runs past the part, though the line goes on")
            #expect(Bytes.hasPrefix(line, at: 2, "b:"))
        }
        // A search in the first part of a line never finds a match that runs past that part.
        bytes("x ssh2: rest") { line in
            let part = UnsafeBufferPointer(rebasing: line[0..<7])
            #expect(Bytes.find(part, " ssh2: ") == nil)
            #expect(Bytes.find(line, " ssh2: ") == 1)
        }
    }

    @Test func aSourceIsBlindAfterTwoHundredUnknownLinesByDefault() {
        var b = BlindnessDetector()
        let reports = (0..<200).map { _ in b.observe(recognized: false) }
        #expect(reports.firstIndex(of: true) == 199, "reported at the 200th unknown line")
    }

    @Test func aSourceThatStopsMatchingIsReportedOnce() {
        var b = BlindnessDetector(limit: 3)
        let results = [false, false, false, false].map { b.observe(recognized: $0) }
        #expect(results == [false, false, true, false], "reported once, at the third unknown line")
        #expect(b.isBlind)
        let back = b.observe(recognized: true)
        #expect(!back)
        #expect(!b.isBlind)
    }
}
