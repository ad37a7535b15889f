import Testing
import WardenCore

@Suite("Fan-out", .timeLimit(.minutes(1)))
struct FanOutTests {
    @Test func aBatchReachesAWaitingReaderWholeAndInOrder() async {
        let fan = FanOut<Int>()
        let sub = fan.subscribe(name: "reader", capacity: 1000)
        let reader = Task { await sub.nextBatch(max: 1000) }
        // Let the reader park before the batch is sent.
        while fan.stats().first?.buffered != 0 { await Task.yield() }
        for _ in 0..<100 { await Task.yield() }
        fan.send(contentsOf: Array(0..<100))
        #expect(await reader.value == Array(0..<100), "one wake-up for the whole batch")
    }

    @Test func aBatchHonoursFiltersAndCapacityPerSubscriber() async {
        let fan = FanOut<Int>()
        let evens = fan.subscribe(name: "evens", capacity: 1000) { $0 % 2 == 0 }
        let small = fan.subscribe(name: "small", capacity: 10)
        fan.send(contentsOf: Array(0..<50))
        fan.send(contentsOf: [])
        #expect(await evens.nextBatch(max: 1000) == Array(stride(from: 0, to: 50, by: 2)))
        #expect(await small.nextBatch(max: 1000) == Array(0..<10))
        let stats = Dictionary(uniqueKeysWithValues: fan.stats().map { ($0.name, $0) })
        #expect(stats["small"]?.dropped == 40)
        #expect(stats["evens"]?.dropped == 0)
        #expect(fan.totalDropped == 40)
    }
}
