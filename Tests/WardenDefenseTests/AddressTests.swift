import Testing
import WardenCore

@Suite("Addresses and blocks")
struct AddressTests {
    @Test func ipv4AndIPv6ParseAndPrint() throws {
        #expect(IPAddress("203.0.113.5")?.description == "203.0.113.5")
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8::1")
        #expect(IPAddress("::ffff:198.51.100.7") == IPAddress("198.51.100.7"), "IPv4-mapped is IPv4")
        for bad in ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4:22", "", "x", "1..2.3", ":::"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPAddress("127.0.0.9")?.isLoopback == true)
        #expect(IPAddress("::1")?.isLoopback == true)
        #expect(IPAddress("10.0.0.1")?.isLoopback == false)
    }

    @Test func blocksContainWhatTheyShould() throws {
        let b = try #require(CIDR("10.1.0.0/16"))
        #expect(b.contains(try #require(IPAddress("10.1.255.3"))))
        #expect(!b.contains(try #require(IPAddress("10.2.0.1"))))
        #expect(!b.contains(try #require(IPAddress("::1"))))
        let v6 = try #require(CIDR("2001:db8::/32"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:ffff::9"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db9::1"))))
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(CIDR("0.0.0.0/0")?.contains(try #require(IPAddress("8.8.8.8"))) == true)
        #expect(CIDR("192.168.1.7")?.prefix == 32)
        let odd = try #require(CIDR("2001:db8::/65"))
        #expect(odd.contains(try #require(IPAddress("2001:db8::7fff:0:0:1"))))
        #expect(!odd.contains(try #require(IPAddress("2001:db8::8000:0:0:1"))))
    }
}
