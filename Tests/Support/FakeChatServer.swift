import Foundation
import Synchronization
import WardenCore

#if canImport(Glibc)
import Glibc
#endif

/// A small server of the test's own that speaks OpenAI's chat-completions protocol over a real
/// socket, answering what the test tells it to (a model cannot run here).
public final class FakeChatServer: Sendable {
    public let port: Int
    let fd: Int32
    /// Every request so far: its head, an empty line, its body.
    public let requests = Mutex<[String]>([])
    /// The assistant message content to answer with, how long to wait first, and the status.
    public let answer: Mutex<(content: String, delay: Double, status: Int)>
    /// When set, decides each answer from the request's body and its number (from 0) instead.
    public let rule = Mutex<
        (@Sendable (_ body: String, _ index: Int) -> (content: String, delay: Double, status: Int))?
    >(nil)
    /// Requests being answered now, and the most at once.
    public let inFlight = Mutex<(now: Int, most: Int)>((0, 0))

    /// The API base to configure (`http://127.0.0.1:PORT/v1`).
    public var url: String { "http://127.0.0.1:\(port)/v1" }

    public init(content: String, delay: Double = 0, status: Int = 200) {
        answer = Mutex((content, delay, status))
        let (fd, port) = loopbackListener()
        self.fd = fd
        self.port = port
        let listener = fd
        // Holds the server weakly: once the test lets it go, deinit shuts the socket down and
        // this thread ends (a strong reference would keep both for the rest of the run).
        Thread { [weak self] in
            while true {
                let client = accept(listener, nil, nil)
                // EINVAL once deinit has shut the socket down; anything else is passing.
                if client < 0 && errno != EINVAL {
                    usleep(1000)
                    continue
                }
                if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
                guard client >= 0, let self else {
                    // The listener is closed here, not in deinit: a number closed while this
                    // thread could still accept on it might be another test's socket by then.
                    if client >= 0 { close(client) }
                    close(listener)
                    return
                }
                Thread { self.serve(client) }.start()
            }
        }.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    func serve(_ client: Int32) {
        defer { close(client) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var requestBody = ""
        var index = 0
        while true {
            let n = recv(client, &buffer, buffer.count, 0)
            if n <= 0 { return }
            data += buffer[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            guard let split = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<split.lowerBound].lowercased()
            let length =
                head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            let body = String(text[split.upperBound...])
            if body.utf8.count >= length {
                requestBody = body
                index = requests.withLock {
                    $0.append(String(text[..<split.lowerBound]) + "\n\n" + body)
                    return $0.count - 1
                }
                break
            }
        }
        inFlight.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
        let (content, delay, status) = rule.withLock { $0 }?(requestBody, index) ?? answer.withLock { $0 }
        if delay > 0 { usleep(useconds_t(delay * 1e6)) }
        let completion: JSONValue = [
            "id": "chatcmpl-1", "object": "chat.completion", "model": "test",
            "choices": [
                ["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": .string(content)]]
            ],
            "usage": [
                "prompt_tokens": .int(Int64(requestBody.utf8.count / 4)),
                "completion_tokens": .int(Int64(content.utf8.count / 4)),
            ],
        ]
        let body = status == 200 ? completion.jsonText : #"{"error":{"message":"overloaded"}}"#
        let response =
            "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        // No longer in flight once the answer goes out: the client may start its next request
        // the moment it has this one.
        inFlight.withLock { $0.now -= 1 }
        _ = response.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }
}
