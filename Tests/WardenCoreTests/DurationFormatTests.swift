import Testing
import WardenCore

@Suite("Durations and sizes")
struct DurationFormatTests {
    @Test(arguments: [
        ("200ms", Duration.milliseconds(200)), ("2s", .seconds(2)), ("10m", .seconds(600)), ("1h30m", .seconds(5400)),
        ("7d", .seconds(604_800)), ("1.5s", .milliseconds(1500)), ("0", .zero), ("500us", .microseconds(500)),
    ])
    func parsesWhatTheSpecWrites(text: String, expected: Duration) {
        #expect(DurationFormat.parse(text) == expected)
    }

    @Test(arguments: ["", "2", "2 seconds", "-1s", "1x", "ms", "1.2.3s", "s10"])
    func rejectsWhatIsNotADuration(text: String) {
        #expect(DurationFormat.parse(text) == nil)
    }

    @Test func formatsCompactly() {
        #expect(DurationFormat.format(.milliseconds(150)) == "150ms")
        #expect(DurationFormat.format(.milliseconds(1500)) == "1.5s")
        #expect(DurationFormat.format(.seconds(600)) == "10m")
        #expect(DurationFormat.format(.seconds(5400)) == "1h30m")
        #expect(DurationFormat.format(.zero) == "0s")
    }

    @Test func byteSizes() {
        #expect(ByteSize.parse("10MB") == Int64(10 * 1024 * 1024))
        #expect(ByteSize.parse("512kb") == Int64(512 * 1024))
        #expect(ByteSize.parse("4096") == 4096)
        #expect(ByteSize.parse("1.5GiB") == 1_610_612_736)
        #expect(ByteSize.parse("ten") == nil)
        #expect(ByteSize.format(10 * 1024 * 1024) == "10MB")
    }

    @Test func commandsSplitLikeAShell() throws {
        #expect(
            try CommandLineSplitter.split(#"./bin/api --name "a b" 'c d' e\ f"#).get() == [
                "./bin/api", "--name", "a b", "c d", "e f",
            ]
        )
        #expect(throws: CommandSplitError.self) { try CommandLineSplitter.split(#"echo "unclosed"#).get() }
    }

    @Test func didYouMeanFindsTypos() {
        #expect(DidYouMean.suggest("restrat", from: ["run", "restart", "ready"]) == "restart")
        #expect(DidYouMean.suggest("polcy", from: ["policy", "backoff"]) == "policy")
        #expect(DidYouMean.suggest("zzzzzz", from: ["policy", "backoff"]) == nil)
    }
}
