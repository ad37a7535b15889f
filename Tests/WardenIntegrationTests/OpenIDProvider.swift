import Foundation
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real OpenID provider on loopback over HTTPS: Django OAuth Toolkit (`pip install
/// django-oauth-toolkit gunicorn`, which .ci/run does) configured by `Tests/oidc/provider.py`,
/// with a certificate from the test's own authority. Its users and the claims it issues are
/// described in that file. ``token(for:)`` signs in as a user the way a command-line client does
/// (authorization code with PKCE) and returns the ID token.
final class OpenIDProvider: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let script = repository + "/Tests/oidc/provider.py"
    static let login = repository + "/Tests/oidc/login.py"

    let dir = TempDir("warden-oidc")
    let python: String
    let cert: (cert: String, key: String)
    let caFile: String
    let clientID = "warden"
    let clientSecret = "provider-client-secret-\(UInt32.random(in: 0...UInt32.max))"
    let redirect: String
    private(set) var port = 0
    private var server: ChildProcess?

    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    var issuer: String { "https://127.0.0.1:\(port)/o" }

    /// `redirect`: the client's registered redirect URI (Warden's /auth/callback).
    init(authority: TestAuthority, redirect: String) async throws {
        guard let python = which("python3") else { throw Failed(description: "python3 is not installed") }
        self.python = python
        self.caFile = authority.caFile
        self.redirect = redirect
        cert = try await authority.issue("provider")
        try await run([Self.script, "setup", dir.file("state"), clientID, clientSecret, redirect])
        try await start()
    }

    deinit { server?.signalGroup(SIGKILL) }

    private func run(_ arguments: [String]) async throws {
        let r = await ChildProcess.capture([python] + arguments)
        if r.status != 0 { throw Failed(description: "\(arguments.prefix(2).joined(separator: " ")): \(r.output)") }
    }

    /// Starts the server (on the port it had, after the first start).
    func start() async throws {
        let portFile = dir.file("port")
        try? FileManager.default.removeItem(atPath: portFile)
        let fd = open(dir.file("server.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        defer { close(fd) }
        var request = SpawnRequest(
            executable: python,
            arguments: [python, Self.script, "serve", dir.file("state"), cert.cert, cert.key, portFile, String(port)],
            environment: ProcessInfo.processInfo.environment
        )
        request.stdout = fd
        request.stderr = fd
        server = try ChildProcess.spawn(request)
        try await eventually("the provider's port file", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: portFile)
        }
        port = Int((try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "") ?? 0
        let url = issuer + "/.well-known/openid-configuration"
        let ca = caFile
        try await eventually("the provider answers", timeout: .seconds(60)) {
            let answer = await blockingWork {
                BlockingHTTPClient.shared.exchange(
                    method: "GET",
                    url: url,
                    headers: [],
                    body: [],
                    caFile: ca,
                    timeout: .seconds(5)
                )
            }
            if case .success(let (status, _)) = answer { return status == 200 }
            return false
        }
    }

    /// Stops the server: its keys and endpoints cannot be reached.
    func stop() async {
        server?.signalGroup(SIGKILL)
        if let server { _ = await server.exit() }
        server = nil
    }

    /// A new signing key; the old one stays published as inactive. Takes effect at the next start.
    func rotateKey() async throws { try await run([Self.script, "rotate", dir.file("state")]) }

    /// Signs in as `user` (authorization code with PKCE, as a CLI would) and returns the ID token.
    func token(for user: String) async throws -> String {
        let r = await ChildProcess.capture([
            python, Self.login, "token", issuer, caFile, clientID, clientSecret, redirect, user,
        ])
        guard r.status == 0 else { throw Failed(description: "signing in as \(user): \(r.output)") }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The server's log, for failure messages.
    var log: String { (try? String(contentsOfFile: dir.file("server.log"), encoding: .utf8)) ?? "" }
}
