import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenSupervisor
import WardenTestSupport

/// https:// probes verify the target's certificate: against the probe's `ca`, else the system's
/// authorities; a certificate for another name, an unknown authority or an error status fails.
@Suite("HTTPS probes", .timeLimit(.minutes(1)))
struct HTTPSProbeTests {
    func run(
        _ url: String,
        ca: String?,
        transport: (any HTTPTransport)? = AsyncHTTPTransport.shared
    ) async throws
        -> ProbeResult
    {
        var target = try #require(HTTPTarget.parse(url))
        target.caFile = ca
        let context = Probe.ExecContext(environment: [:], cwd: "/", identity: nil, transport: transport)
        return await Probe.run(.http(target), timeout: .seconds(5), exec: context)
    }

    @Test func certificatesAreVerified() async throws {
        let lab = try await TLSLab()
        let url = "https://127.0.0.1:\(lab.port)/healthz"
        let trusted = try await run(url, ca: lab.caFile)
        #expect(trusted.ok && trusted.detail == "HTTP 200", "\(trusted)")
        let unknown = try await run(url, ca: nil)
        #expect(!unknown.ok)
        #expect(unknown.detail.lowercased().contains("certificate") || unknown.detail.contains("TLS"), "\(unknown)")
        let none = try await run(url, ca: lab.caFile, transport: nil)
        #expect(!none.ok && none.detail == "https checks are not available in this process")

        let other = try await TLSLab(certificateFor: "someone.else.example")
        let wrongName = try await run("https://127.0.0.1:\(other.port)/healthz", ca: other.caFile)
        #expect(!wrongName.ok, "a certificate for another name fails: \(wrongName)")

        let failing = try await TLSLab(status: 503)
        let down = try await run("https://127.0.0.1:\(failing.port)/healthz", ca: failing.caFile)
        #expect(!down.ok && down.detail == "HTTP 503", "\(down)")
    }

    /// A live `warden run`: a service that serves HTTPS with a certificate of the lab's authority
    /// is ready once its https probe (with the spec's `ca`) passes; the spec refuses `ca` beside
    /// an http:// target.
    @Test func aServiceIsReadyByAnHTTPSProbe() async throws {
        let lab = try await TLSLab()
        let python = try #require(which("python3"))
        let port = freePort()
        let server = lab.dir.write(
            "service.py",
            """
            import http.server, ssl, sys
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[2], sys.argv[3])
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.serve_forever()
            """
        )
        let f = Fixture(
            """
            services:
              s:
                run: [\(python), \(server), "\(port)", \(lab.dir.file("server.pem")), \(lab.dir.file("server.key"))]
                ready: { http: "https://127.0.0.1:\(port)/ready", ca: \(lab.caFile), every: 100ms }
            """
        )
        let w = try f.start()
        try await f.waitFor(EventType.serviceReady, "s")
        #expect(try await w.stop() == .exited(0))
        f.write(
            """
            services:
              s:
                run: [SAMPLE]
                ready: { http: "http://127.0.0.1:1/ready", ca: \(lab.caFile) }
            """
        )
        let bad = try await warden("validate", f.config)
        #expect(bad.exitCode == 1)
        #expect(bad.stdout.contains("services.s.ready.ca: a CA file is for an https:// target"), "\(bad.stdout)")
    }
}
