import Foundation
import WardenSupervisor

/// A certificate authority of the test's own and an HTTPS server on loopback whose certificate it
/// signed (made with the `openssl` command, served by Python's `ssl` module): for testing that
/// Warden verifies certificates and honours a custom CA file.
public final class TLSLab: Sendable {
    public let dir: TempDir
    /// The CA's certificate (PEM): what a `ca:` key points at.
    public let caFile: String
    /// The port of the HTTPS server.
    public let port: Int
    let server: ChildProcess
    /// Where the server appends each request body, one per line.
    public let received: String

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// `host`: the name the server's certificate is made out to (a certificate for another name
    /// must be refused). `status`: what the server answers.
    public init(certificateFor host: String = "127.0.0.1", status: Int = 200) async throws {
        guard let openssl = which("openssl") else { throw Missing(description: "openssl is not installed") }
        guard let python = which("python3") else { throw Missing(description: "python3 is not installed") }
        dir = TempDir("warden-tls")
        caFile = dir.file("ca.pem")
        received = dir.file("received")
        let san = host.allSatisfy({ $0.isNumber || $0 == "." }) ? "IP:\(host)" : "DNS:\(host)"
        let steps: [[String]] = [
            [
                openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Warden test CA",
                "-keyout", dir.file("ca.key"), "-out", caFile,
            ],
            [
                openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(host)", "-keyout",
                dir.file("server.key"), "-out", dir.file("server.csr"),
            ],
            [
                openssl, "x509", "-req", "-in", dir.file("server.csr"), "-CA", caFile, "-CAkey", dir.file("ca.key"),
                "-CAcreateserial", "-days", "2", "-out", dir.file("server.pem"), "-extfile",
                dir.write("san.cnf", "subjectAltName=\(san)\n"),
            ],
        ]
        for step in steps {
            let r = await ChildProcess.capture(step)
            if r.status != 0 { throw Missing(description: "\(step.prefix(3).joined(separator: " ")): \(r.output)") }
        }
        let script = dir.write(
            "serve.py",
            """
            import http.server, ssl, sys
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    with open(sys.argv[2], "ab") as out:
                        out.write(body + b"\\n")
                    self.send_response(\(status))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                def do_GET(self):
                    self.send_response(\(status))
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(sys.argv[3], sys.argv[4])
            server.socket = context.wrap_socket(server.socket, server_side=True)
            with open(sys.argv[1] + ".tmp", "w") as out:
                out.write(str(server.server_address[1]))
            import os
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            server.serve_forever()
            """
        )
        (server, port) = try await startLoopbackServer(
            [python, script, dir.file("port"), received, dir.file("server.pem"), dir.file("server.key")],
            portFile: dir.file("port"),
            what: "the HTTPS server"
        )
    }

    deinit { server.signalGroup(SIGKILL) }

    /// The bodies the server received.
    public var bodies: [String] {
        ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

/// Starts a server (`argv`) that writes the port it listens on to `portFile` once it listens, and
/// waits (up to 10 s) for that port.
public func startLoopbackServer(_ argv: [String], portFile: String, what: String) async throws -> (ChildProcess, Int) {
    let server = try ChildProcess.spawn(
        SpawnRequest(executable: argv[0], arguments: argv, environment: ProcessInfo.processInfo.environment)
    )
    for _ in 0..<500 {
        if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
            return (server, port)
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    server.signalGroup(SIGKILL)
    throw TLSLab.Missing(description: "\(what) did not start")
}

/// A certificate authority of the test's own (made with the `openssl` command) that issues server
/// certificates for 127.0.0.1: for testing Warden's own HTTPS.
public final class TestAuthority: Sendable {
    public let dir: TempDir
    /// The authority's certificate (PEM).
    public let caFile: String
    let openssl: String

    public init() async throws {
        guard let openssl = which("openssl") else { throw TLSLab.Missing(description: "openssl is not installed") }
        self.openssl = openssl
        dir = TempDir("warden-ca")
        caFile = dir.file("ca.pem")
        try await run([
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Warden test CA",
            "-keyout", dir.file("ca.key"), "-out", caFile,
        ])
    }

    private func run(_ argv: [String]) async throws {
        let r = await ChildProcess.capture(argv)
        if r.status != 0 { throw TLSLab.Missing(description: "\(argv.prefix(3).joined(separator: " ")): \(r.output)") }
    }

    /// A certificate for 127.0.0.1 made out to `name` (its common name), and its key: two PEM files.
    public func issue(_ name: String) async throws -> (cert: String, key: String) {
        let key = dir.file("\(name).key")
        let cert = dir.file("\(name).pem")
        try await run([
            openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", key, "-out",
            dir.file("\(name).csr"),
        ])
        try await run([
            openssl, "x509", "-req", "-in", dir.file("\(name).csr"), "-CA", caFile, "-CAkey", dir.file("ca.key"),
            "-CAcreateserial", "-days", "2", "-out", cert, "-extfile",
            dir.write("\(name).cnf", "subjectAltName=IP:127.0.0.1\n"),
        ])
        return (cert, key)
    }
}
