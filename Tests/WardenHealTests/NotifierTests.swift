import Foundation
import Synchronization
import Testing
import WardenCore
import WardenHeal
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A web hook that answers with the statuses it is given, in turn (the last one repeats).
final class StatusServer: Sendable {
    let port: Int
    let fd: Int32
    let statuses: [Int]
    let received = Mutex<[String]>([])

    init(_ statuses: [Int]) {
        self.statuses = statuses
        let (fd, port) = loopbackListener()
        self.fd = fd
        self.port = port
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                serve(client)
            }
        }.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    func serve(_ client: Int32) {
        defer { close(client) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { return }
            data += buffer[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") else { continue }
            let length =
                text[..<split.lowerBound].lowercased().split(separator: "\r\n")
                .first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            if text[split.upperBound...].utf8.count >= length { break }
        }
        let index = received.withLock { r -> Int in
            r.append(String(decoding: data, as: UTF8.self))
            return r.count - 1
        }
        let status = statuses[min(index, statuses.count - 1)]
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    var count: Int { received.withLock { $0.count } }
}

/// Notifications are retried with exponential backoff, on a manual clock (no real waiting).
@Suite("Notifications", .timeLimit(.minutes(1)))
struct NotifierTests {
    @Test func failuresAreRetriedWithGrowingWaitsUntilOneIsTaken() async throws {
        let server = StatusServer([503, 500, 200])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 5)
        let delivery = Task { await Notifier(clock: clock).post(["text": "hello"], to: target) }
        // After each failure the notifier sleeps: 0.5 s, then 1 s (doubling), then it is taken.
        for (attempt, wait) in [(1, Duration.milliseconds(500)), (2, .seconds(1))] {
            try await eventually("attempt \(attempt) and its wait") {
                server.count == attempt && clock.sleeperCount == 1
            }
            let deadline = try #require(clock.nextDeadline)
            #expect(deadline - clock.now() == wait, "the wait after attempt \(attempt)")
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 200")
        #expect(server.count == 3)
        #expect(server.received.withLock { $0[0] }.contains("\"text\":\"hello\""))
    }

    @Test func theAttemptsRunOutAndTheLastAnswerIsReported() async throws {
        let server = StatusServer([502])
        let clock = ManualClock()
        let target = NotifySpec(name: "oncall", url: "http://127.0.0.1:\(server.port)/hook", attempts: 3)
        let delivery = Task { await Notifier(clock: clock).post(["text": "x"], to: target) }
        var waits: [Duration] = []
        for attempt in 1...2 {
            try await eventually("attempt \(attempt) and its wait") {
                server.count == attempt && clock.sleeperCount == 1
            }
            let wait = try #require(clock.nextDeadline) - clock.now()
            waits.append(wait)
            clock.advance(by: wait)
        }
        let result = await delivery.value
        #expect(!result.delivered)
        #expect(result.attempts == 3)
        #expect(result.last == "HTTP 502")
        #expect(waits == [.milliseconds(500), .seconds(1)])
        #expect(server.count == 3, "no wait after the last attempt, and no fourth")
    }
}
