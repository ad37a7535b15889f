import Testing
import WardenCore
import WardenDefense
import WardenTestSupport

@Suite("Connection table")
struct ConnectionTableTests {
    // As the kernel prints it: 0.0.0.0:22 listening, 10.0.0.1:22 ← 10.0.0.9:51000 established,
    // 10.0.0.1:80 ← 10.0.0.9:51001 half-open; one outbound connection to 93.184.216.34:443.
    static let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
           1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
           2: 0100000A:0016 0900000A:C738 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
           3: 0100000A:0050 0900000A:C739 03 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
           4: 0100000A:D000 22D8B85D:01BB 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0

        """

    static let tcp6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue
           0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000
           1: B80D0120000000000000000001000000:0016 B80D0120000000000000000009000000:C000 01 00000000:00000000

        """

    func parse(_ text: String) -> [TCPEntry] {
        var entries: [TCPEntry] = []
        var copy = text
        copy.withUTF8 { ConnectionTable.parse($0, into: &entries) }
        return entries
    }

    @Test func theKernelsTextIsParsed() throws {
        let e = parse(Self.tcp)
        #expect(e.count == 5)
        #expect(e[2].local == IPAddress("10.0.0.1"))
        #expect(e[2].localPort == 22)
        #expect(e[2].remote == IPAddress("10.0.0.9"))
        #expect(e[2].remotePort == 51000)
        #expect(e[2].state == .established)
        #expect(e[3].state == .synRecv)
        #expect(e[4].remote == IPAddress("93.184.216.34"))
        let v6 = parse(Self.tcp6)
        #expect(v6.count == 2)
        #expect(v6[1].remote == IPAddress("2001:db8::9"))
        #expect(v6[1].local == IPAddress("2001:db8::1"))
    }

    @Test func theTrackerCountsInboundConnectionsPerAddress() throws {
        var tracker = ConnectionTracker()
        let first = tracker.observe(parse(Self.tcp), now: 0)
        let attacker = try #require(IPAddress("10.0.0.9"))
        // At start, open connections are counted but not "new".
        #expect(first.contains { $0.name == "conn.concurrent" && $0.address == attacker && $0.value == 2 })
        #expect(first.contains { $0.name == "conn.half_open" && $0.value == 1 })
        #expect(!first.contains { $0.name == "conn.new" })
        #expect(!first.contains { $0.address == IPAddress("93.184.216.34") }, "outbound connections are not threats")
        // Twenty more connections from the same address, to a third port.
        var more = parse(Self.tcp)
        for i in 0..<20 {
            more.append(
                TCPEntry(
                    local: IPAddress("10.0.0.1")!,
                    localPort: 22,
                    remote: attacker,
                    remotePort: UInt16(40000 + i),
                    state: .established
                )
            )
        }
        more.append(
            TCPEntry(
                local: IPAddress("10.0.0.1")!,
                localPort: 80,
                remote: attacker,
                remotePort: 39999,
                state: .established
            )
        )
        let second = tracker.observe(more, now: 1)
        #expect(second.first { $0.name == "conn.new" }?.value == 21)
        #expect(second.first { $0.name == "conn.concurrent" }?.value == 23)
        #expect(second.first { $0.name == "conn.ports" } == nil, "ports 22 and 80 were already seen")
    }

    @Test func theLiveTableOfThisProcessReads() {
        // A listener of this test's own must be among the rows, and every row must parse.
        let (fd, port) = loopbackListener()
        defer { close(fd) }
        let entries = ConnectionTable.read()
        #expect(!entries.isEmpty)
        #expect(entries.contains { $0.state == .listen && Int($0.localPort) == port }, "our listener on \(port)")
        #expect(entries.allSatisfy { $0.localPort > 0 || $0.state != .listen })
    }
}

#if canImport(Glibc)
import Glibc
#endif
