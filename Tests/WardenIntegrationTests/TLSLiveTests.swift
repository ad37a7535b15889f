import Foundation
import Testing
import WardenCore
import WardenHTTP
import WardenTestSupport

/// The API over HTTPS: the CLI talks to it trusting the configured authority, plain HTTP gets
/// nothing, and a renewed certificate written over the old one serves new connections while an
/// open connection goes on with the old one; a broken pair is refused and the last good one serves.
@Suite("API over TLS, live", .timeLimit(.minutes(2)))
struct TLSLiveTests {
    /// Run as a client: one connection kept open while the files change (the steps are in the
    /// script's arguments), the served certificate's common name at each step.
    static let client = #"""
        import http.client, json, os, shutil, ssl, sys, time
        port, ca, cert, key, new_cert, new_key, bad_key, log = sys.argv[1:9]
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        def name(conn):
            return dict(x[0] for x in conn.sock.getpeercert()["subject"])["commonName"]
        def fresh():
            c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)
            c.request("GET", "/healthz"); r = c.getresponse(); r.read()
            assert r.status == 200, r.status
            return c
        out = {}
        kept = fresh()
        out["first"] = name(kept)
        # A renewed pair, written as a renewal tool does (new files moved into place).
        for src, dst in ((new_key, key), (new_cert, cert)):
            shutil.copy(src, dst + ".new"); os.rename(dst + ".new", dst)
        deadline = time.time() + 20
        while time.time() < deadline:
            c = fresh(); n = name(c); c.close()
            if n != out["first"]:
                break
            time.sleep(0.05)
        out["renewed"] = n
        kept.request("GET", "/healthz"); r = kept.getresponse(); r.read()
        out["kept_status"] = r.status
        out["kept_name"] = name(kept)
        # A key that does not go with the certificate: refused, the renewed pair goes on serving.
        shutil.copy(bad_key, key + ".new"); os.rename(key + ".new", key)
        deadline = time.time() + 20
        while time.time() < deadline and "cannot be used" not in open(log).read():
            c = fresh(); c.close()
            time.sleep(0.05)
        c = fresh(); out["after_bad"] = name(c); c.close()
        print(json.dumps(out))
        """#

    @Test func theAPIServesHTTPSAndARenewedCertificateReplacesTheOldWithoutDroppingConnections() async throws {
        let ca = try await TestAuthority()
        let one = try await ca.issue("warden-one")
        let two = try await ca.issue("warden-two")
        let other = try await ca.issue("unrelated")
        let f = Fixture("services: {}\n")
        let cert = f.dir.file("api.pem")
        let key = f.dir.file("api.key")
        try FileManager.default.copyItem(atPath: one.cert, toPath: cert)
        try FileManager.default.copyItem(atPath: one.key, toPath: key)
        let spec = """
            state_dir: \(f.stateDir)
            api: { listen: 127.0.0.1:\(f.port), tls: { cert: api.pem, key: api.key, ca: \(ca.caFile) } }
            services:
              s:
                run: [\(Binaries.sample)]
            """
        try spec.write(toFile: f.config, atomically: true, encoding: .utf8)
        let w = try f.start()
        _ = try await f.waitRunning(["s"])
        // The CLI reaches it over HTTPS, trusting the spec's authority.
        let status = try await warden("status", "-c", f.config)
        #expect(status.exitCode == 0, "\(status.stderr)")
        #expect(status.stdout.contains("s "), "\(status.stdout)")
        // Plain HTTP gets no answer; a client trusting another authority is refused.
        let plain = WardenAPIClient(host: "127.0.0.1", port: f.port, token: nil, timeout: .seconds(5))
        await #expect(throws: OutboundError.self) { try await plain.send("GET", "/healthz") }
        let stranger = WardenAPIClient(
            host: "127.0.0.1",
            port: f.port,
            token: nil,
            timeout: .seconds(5),
            trust: other.cert
        )
        await #expect(throws: OutboundError.self) { try await stranger.send("GET", "/healthz") }

        let script = f.dir.write("client.py", Self.client)
        let python = try #require(which("python3"))
        let result = try await runCommand(
            python,
            [script, String(f.port), ca.caFile, cert, key, two.cert, two.key, other.key, w.outputPath]
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        let out = JSONValue.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(out?["first"]?.stringValue == "warden-one", "\(result.stdout)")
        #expect(out?["renewed"]?.stringValue == "warden-two")
        #expect(out?["kept_status"]?.intValue == 200, "the open connection was not dropped")
        #expect(out?["kept_name"]?.stringValue == "warden-one", "and goes on with the certificate it began with")
        #expect(out?["after_bad"]?.stringValue == "warden-two", "a broken pair is refused")
        #expect(try await w.stop() == .exited(0))
    }

    @Test func aKeyThatDoesNotGoWithTheCertificateIsASpecError() async throws {
        let ca = try await TestAuthority()
        let one = try await ca.issue("warden-one")
        let two = try await ca.issue("warden-two")
        let f = Fixture("services: {}\n")
        let spec = """
            state_dir: \(f.stateDir)
            api: { listen: 127.0.0.1:\(f.port), tls: { cert: \(one.cert), key: \(two.key) } }
            services: {}
            """
        try spec.write(toFile: f.config, atomically: true, encoding: .utf8)
        let result = try await warden("validate", f.config)
        #expect(result.exitCode == 1)
        let column = spec.split(separator: "\n")[1].utf8.count - "\(one.cert), key: \(two.key) } }".utf8.count + 1
        #expect(
            result.stdout.contains(
                "\(f.config):2:\(column): api.tls.cert: the key in \(two.key) does not go with the certificate"
            ),
            "\(result.stdout)"
        )
        let missing = spec.replacingOccurrences(of: two.key, with: "/no/such.key")
        try missing.write(toFile: f.config, atomically: true, encoding: .utf8)
        let r2 = try await warden("validate", f.config)
        #expect(r2.exitCode == 1)
        #expect(r2.stdout.contains("api.tls.key: cannot read /no/such.key"), "\(r2.stdout)")
        // An endless file is read up to a limit, not for ever.
        try spec.replacingOccurrences(of: one.cert, with: "/dev/zero").write(
            toFile: f.config,
            atomically: true,
            encoding: .utf8
        )
        let r3 = try await warden("validate", f.config)
        #expect(r3.stdout.contains("api.tls.cert: /dev/zero is larger than 1 MiB"), "\(r3.stdout)")
    }
}
