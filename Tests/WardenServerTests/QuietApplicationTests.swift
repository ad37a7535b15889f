import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Testing
import WardenServer

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The application Warden serves with, over a real socket.
@Suite("Quiet application", .timeLimit(.minutes(1)))
struct QuietApplicationTests {
    struct Boom: Error {}

    @Test func theDateHeaderIsRFC9110sFormat() {
        // RFC 9110, section 5.6.7's example.
        #expect(HTTPDateHeader.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDateHeader.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        let header = HTTPDateHeader()
        #expect(header.value(at: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(header.value(at: 784_111_778) == "Sun, 06 Nov 1994 08:49:38 GMT")
    }

    @Test func itServesResponsesWithDateAndServerHeadersAndTurnsErrorsInto500() async throws {
        let router = Router()
        router.get("hello") { _, _ in "hi" }
        router.get("boom") { _, _ -> String in throw Boom() }
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let app = QuietApplication(
            responder: router.buildResponder(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "quiet-test"),
            logger: Logger(label: "quiet-test"),
            onServerRunning: { channel in
                port.yield(channel.localAddress?.port ?? 0)
                port.finish()
            }
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "quiet-test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var it = ports.makeAsyncIterator()
            let p = try #require(await it.next())
            #expect(p > 0)
            let (body, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(p)/hello")!)
            let http = try #require(response as? HTTPURLResponse)
            #expect(http.statusCode == 200)
            #expect(String(decoding: body, as: UTF8.self) == "hi")
            #expect(http.value(forHTTPHeaderField: "Server") == "quiet-test")
            let date = try #require(http.value(forHTTPHeaderField: "Date"))
            let parser = DateFormatter()
            parser.locale = Locale(identifier: "en_US_POSIX")
            parser.timeZone = TimeZone(identifier: "GMT")
            parser.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let sent = try #require(parser.date(from: date), "\(date) is an IMF-fixdate")
            #expect(abs(sent.timeIntervalSinceNow) < 5)
            let (_, failed) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(p)/boom")!)
            #expect((failed as? HTTPURLResponse)?.statusCode == 500)
            let (_, missing) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(p)/nothing")!)
            #expect((missing as? HTTPURLResponse)?.statusCode == 404)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
