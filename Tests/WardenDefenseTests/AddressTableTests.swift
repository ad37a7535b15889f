import Testing
import WardenCore

@testable import WardenDefense

/// The dense table behind tracked addresses and bans agrees with a dictionary, whatever is added,
/// replaced and removed.
@Suite("Address table")
struct AddressTableTests {
    @Test func randomOperationsAgreeWithADictionary() {
        var rng = SplitMix64(seed: 9)
        var table = AddressTable<Int>(reserving: 4)
        var oracle: [IPAddress: Int] = [:]
        for step in 0..<20_000 {
            let address = IPAddress.v4(UInt32(rng.next() % 300))
            switch rng.next() % 4 {
            case 0, 1:
                table[address] = step
                oracle[address] = step
            case 2:
                #expect(table.removeValue(forKey: address) == oracle.removeValue(forKey: address))
            default:
                table[address] = nil
                oracle[address] = nil
            }
            #expect(table.count == oracle.count)
        }
        for (address, value) in oracle { #expect(table[address] == value) }
        #expect(Set(table.addresses) == Set(oracle.keys))
        for (address, value) in zip(table.addresses, table.values) {
            #expect(oracle[address] == value, "addresses and values stay side by side")
            #expect(table.position(of: address).map { table.values[$0] } == value)
        }
    }
}
