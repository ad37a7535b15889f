import Foundation
import Testing
import WardenCore

@testable import WardenDefense

/// Address lists as blocklists are published, and the firewall batch a list becomes.
@Suite("Address lists")
struct AddressListTests {
    @Test func listsAreReadAsPublished() throws {
        let text = "# header\n203.0.113.5\n198.51.100.7 ; SBL 123\n\n  2001:db8::1\t# v6\n192.0.2.1,extra\r\n"
        let list = try AddressList.parse(text).get()
        #expect(list.map(\.description) == ["203.0.113.5", "198.51.100.7", "2001:db8::1", "192.0.2.1"])
        #expect(throws: AddressList.Problem(line: 2, message: "'10.0.0.0/8' is a range; list single addresses")) {
            try AddressList.parse("10.0.0.1\n10.0.0.0/8\n").get()
        }
        #expect(throws: AddressList.Problem.self) { try AddressList.parse("1.2.3\n").get() }
        #expect(try AddressList.parse("").get().isEmpty)
    }

    /// However long the batch, a few commands per set; the last change of an address wins.
    @Test func aBatchIsAFewCommandsPerSet() throws {
        let firewall = try NFTablesFirewall(runner: { _, _ in (0, "") })
        let a = try #require(IPAddress("203.0.113.5"))
        let b = try #require(IPAddress("203.0.113.6"))
        let c = try #require(IPAddress("2001:db8::1"))
        let text = firewall.commands([.add(a, seconds: 60), .add(b, seconds: 120), .remove(a), .add(c, seconds: 30)])
        #expect(
            text == """
                add element inet warden ban4 { 203.0.113.5 timeout 1d, 203.0.113.6 timeout 1d }
                delete element inet warden ban4 { 203.0.113.5, 203.0.113.6 }
                add element inet warden ban4 { 203.0.113.6 timeout 120s }
                add element inet warden ban6 { 2001:db8::1 timeout 1d }
                delete element inet warden ban6 { 2001:db8::1 }
                add element inet warden ban6 { 2001:db8::1 timeout 30s }

                """
        )
        // New addresses go straight in; one changed before in the same batch is cleared first.
        let d = try #require(IPAddress("198.51.100.4"))
        let e = try #require(IPAddress("198.51.100.5"))
        let f = try #require(IPAddress("198.51.100.6"))
        let fresh = firewall.commands([
            .addNew(d, seconds: 45), .addNew(e, seconds: 45), .remove(e), .add(f, seconds: 10), .addNew(f, seconds: 20),
        ])
        #expect(
            fresh == """
                add element inet warden ban4 { 198.51.100.5 timeout 1d, 198.51.100.6 timeout 1d }
                delete element inet warden ban4 { 198.51.100.5, 198.51.100.6 }
                add element inet warden ban4 { 198.51.100.4 timeout 45s, 198.51.100.6 timeout 20s }

                """
        )
        let many = (0..<100_000).map { i in
            FirewallChange.add(IPAddress("45.\(i / 65_536).\(i / 256 % 256).\(i % 256)")!, seconds: 60)
        }
        #expect(firewall.commands(many).split(separator: "\n").count == 3)
        let manyNew = many.map { change -> FirewallChange in
            guard case .add(let a, let s) = change else { return change }
            return .addNew(a, seconds: s)
        }
        #expect(firewall.commands(manyNew).split(separator: "\n").count == 1)
    }
}
