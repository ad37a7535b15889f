import Foundation
import Testing
import WardenCore

/// A ban is a value, although copies share the box that holds its why.
@Suite("Ban values")
struct BanValueTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func ban(_ address: String, reason: String = "blocklist") -> Ban {
        Ban(
            address: IPAddress(address)!,
            reason: reason,
            source: "manual:ops",
            createdAt: now,
            expiresAt: now.addingTimeInterval(3600),
            offence: 1,
            evidence: ["list": "spamhaus"]
        )
    }

    @Test func changingACopyLeavesTheOriginalAlone() {
        let original = ban("203.0.113.1")
        var copy = original
        copy.liftedBy = "alice"
        copy.reason = "changed"
        #expect(original.liftedBy == nil)
        #expect(original.reason == "blocklist")
        #expect(copy.liftedBy == "alice" && copy.reason == "changed")
        #expect(copy.source == "manual:ops" && copy.evidence == ["list": "spamhaus"], "the other fields are kept")
        #expect(copy != original)
    }

    @Test func equalityAndHashingAreByValueWhetherSharedOrNot() {
        let a = ban("203.0.113.1")
        let b = ban("203.0.113.1")  // a box of its own with the same contents
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        var c = ban("203.0.113.2")
        c.shareNotes(with: a)
        #expect(c.reason == "blocklist" && c.address == IPAddress("203.0.113.2"))
        var d = ban("203.0.113.3", reason: "other")
        d.shareNotes(with: a)
        #expect(d.reason == "other", "a different why is not shared")
        #expect(Set([a, b, c]).count == 2)
    }
}
