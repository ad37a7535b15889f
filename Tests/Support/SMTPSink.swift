import Foundation
import WardenSupervisor

/// An SMTP server on loopback (Python's socketserver; RFC 5321's commands, no extensions) that
/// appends each mail it accepts, as received after DATA, to a file: a real local receiver for
/// Warden's mail notifications.
public final class SMTPSink: Sendable {
    public let dir: TempDir
    public let port: Int
    let server: ChildProcess
    let mailbox: String

    public init() async throws {
        guard let python = which("python3") else { throw TLSLab.Missing(description: "python3 is not installed") }
        dir = TempDir("warden-smtp")
        mailbox = dir.file("mailbox")
        let script = dir.write(
            "smtp.py",
            """
            import os, socketserver, sys
            class Handler(socketserver.StreamRequestHandler):
                def reply(self, line):
                    self.wfile.write(line.encode() + b"\\r\\n")
                def handle(self):
                    self.reply("220 sink ESMTP")
                    sender, rcpts = None, []
                    while True:
                        line = self.rfile.readline(65536)
                        if not line:
                            return
                        cmd = line.decode(errors="replace").strip()
                        verb = cmd.split(" ")[0].upper()
                        if verb in ("EHLO", "HELO"):
                            self.reply("250 sink")
                        elif verb == "MAIL":
                            sender = cmd[10:]; self.reply("250 ok")
                        elif verb == "RCPT":
                            rcpts.append(cmd[8:]); self.reply("250 ok")
                        elif verb == "DATA":
                            self.reply("354 go on")
                            data = []
                            while True:
                                l = self.rfile.readline(65536)
                                if l in (b".\\r\\n", b""):
                                    break
                                data.append(l[1:] if l.startswith(b"..") else l)
                            with open(sys.argv[2], "ab") as out:
                                out.write(b"X-Envelope: " + (sender or "").encode() + b" -> " + ",".join(rcpts).encode() + b"\\r\\n")
                                out.write(b"".join(data) + b"\\x00\\n")
                            self.reply("250 queued")
                        elif verb == "QUIT":
                            self.reply("221 bye"); return
                        else:
                            self.reply("502 not implemented")
            class Server(socketserver.ThreadingTCPServer):
                allow_reuse_address = True
                daemon_threads = True
            server = Server(("127.0.0.1", 0), Handler)
            with open(sys.argv[1] + ".tmp", "w") as out:
                out.write(str(server.server_address[1]))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            server.serve_forever()
            """
        )
        (server, port) = try await startLoopbackServer(
            [python, script, dir.file("port"), mailbox],
            portFile: dir.file("port"),
            what: "the SMTP server"
        )
    }

    deinit { server.signalGroup(SIGKILL) }

    /// The mails received, each with an `X-Envelope: FROM -> TO` line first.
    public var mails: [String] {
        ((try? String(contentsOfFile: mailbox, encoding: .utf8)) ?? "").components(separatedBy: "\u{0}\n")
            .filter { !$0.isEmpty }
    }
}
