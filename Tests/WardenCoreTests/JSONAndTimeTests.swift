import Foundation
import Testing
import WardenCore

@Suite("JSON values and ISO times")
struct JSONAndTimeTests {
    @Test func jsonRoundTripsThroughText() throws {
        let value: JSONValue = [
            "int": 42, "negative": -7, "double": 0.1, "whole": 5.0, "tiny": 1e-7, "big": 1.5e300, "bool": true,
            "null": nil,
            "text": "quote \" backslash \\ newline \n tab \t control \u{01} é 😀", "array": [1, "two", [3]],
            "empty": [:],
        ]
        let text = value.jsonText
        #expect(JSONValue.parse(text) == value)
        // Keys sorted, so stored payloads are stable.
        #expect(text.hasPrefix(#"{"array":[1,"two",[3]],"big":1.5e+300,"bool":true"#))
        // Foundation reads what we write.
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(foundation?["text"] as? String == "quote \" backslash \\ newline \n tab \t control \u{01} é 😀")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"unterminated", "tru", "[1] x", "\"\\x\"", "\"\u{01}\"",
    ])
    func invalidJSONIsRefused(text: String) {
        #expect(JSONValue.parse(text) == nil)
    }

    /// Every escape JSON has, read by both JSON readers (this one and the ingest scanner) alike.
    @Test func everyEscapeIsRead() {
        let text = #""\"\\\/\b\f\n\r\t\u0041\u00e9""#
        let expected = "\"\\/\u{08}\u{0C}\n\r\tAé"
        #expect(JSONValue.parse(text) == .string(expected))
        #expect(JSONEscape.byte(UInt8(ascii: "n")) == 0x0A)
        #expect(JSONEscape.byte(UInt8(ascii: "u")) == nil, "\\u takes four hex digits; the readers handle it")
        #expect(JSONEscape.byte(UInt8(ascii: "x")) == nil)
    }

    @Test func surrogatePairsAndNumbers() {
        #expect(JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(JSONValue.parse("1e3") == .double(1000))
        #expect(JSONValue.parse(" [ ] ") == .array([]))
    }

    @Test func isoTimesRoundTripInUTC() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.123)
        #expect(ISOTime.format(date) == "2027-01-15T08:00:00.123Z")
        #expect(ISOTime.parse("2027-01-15T08:00:00.123Z") == date)
        #expect(ISOTime.parse("2027-01-15T09:00:00+01:00") == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(ISOTime.parse("2027-01-15 08:00:00") == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(ISOTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        for bad in [
            "2027-13-01T00:00:00Z", "2027-01-15", "yesterday", "2027-01-15T08:00:00Zjunk", "2027-01-15T25:00:00Z",
        ] {
            #expect(ISOTime.parse(bad) == nil, "\(bad)")
        }
        // Agrees with Foundation on a range of instants.
        for seconds in stride(from: -1e9, to: 4e9, by: 9.7e7) {
            let d = Date(timeIntervalSince1970: seconds.rounded())
            #expect(ISOTime.parse(ISOTime.format(d)) == d)
            #expect(
                try Date(
                    ISOTime.format(d),
                    strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)
                ) == d
            )
        }
    }
}
