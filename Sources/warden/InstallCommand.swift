import ArgumentParser
import Foundation
import WardenCore

/// `warden install`: Warden as a systemd service, so that something restarts Warden itself.
struct InstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write a hardened systemd unit that runs this Warden with its spec (or print it with --print).",
        discussion: """
            The unit is Type=notify (Warden says READY=1 once its services started and feeds the
            watchdog), restarts Warden whenever it stops, and uses KillMode=process: restarting or
            stopping the unit stops Warden alone, and the next Warden adopts the services still
            running. Then: systemctl daemon-reload && systemctl enable --now warden.
            """
    )

    @OptionGroup var spec: SpecOptions
    @Flag(help: "Print the unit instead of writing it.") var print = false
    @Option(help: "Where to write warden.service.") var unitDir = "/etc/systemd/system"
    @Option(help: "How long Warden may go silent before systemd restarts it.") var watchdog = "30s"

    func run() throws {
        let specPath = URL(fileURLWithPath: spec.specPath()).standardizedFileURL.path
        let loaded: Spec
        do {
            loaded = try SpecLoader.warden().load(path: specPath)
        } catch let errors as SpecErrors {
            for issue in errors.issues { printError(issue.description) }
            printError("warden install: the spec has problems; fix them first")
            throw ExitCode(1)
        }
        guard let seconds = DurationFormat.parse(watchdog), seconds >= .seconds(2), seconds <= .seconds(3600) else {
            printError("warden install: --watchdog: found '\(watchdog)'; expected a duration from 2s to 1h such as 30s")
            throw ExitCode(1)
        }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let unit = Self.unit(binary: binary, spec: specPath, stateDir: loaded.stateDir, watchdog: seconds)
        if print {
            Swift.print(unit, terminator: "")
            return
        }
        let target = (unitDir as NSString).appendingPathComponent("warden.service")
        do {
            try unit.write(toFile: target, atomically: true, encoding: .utf8)
        } catch {
            printError("warden install: cannot write \(target): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        Swift.print("wrote \(target); now: systemctl daemon-reload && systemctl enable --now warden")
    }

    /// The version of the host's systemd (`systemctl --version`), if it has one.
    static func systemdVersion() -> Int? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/systemctl")
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let words = String(decoding: data, as: UTF8.self).split(separator: " ", maxSplits: 2)
        return words.count >= 2 && words[0] == "systemd" ? Int(words[1]) : nil
    }

    /// The unit. Paths are quoted as systemd's command lines want them. `delegateSubgroup` (systemd
    /// 254 and later; by default when the host's systemd has it) starts Warden straight in the leaf
    /// it would otherwise move itself to, so that a restarted Warden can join a cgroup whose
    /// controllers are handed down to its services.
    static func unit(
        binary: String,
        spec: String,
        stateDir: String,
        watchdog: Duration,
        delegateSubgroup: Bool = (systemdVersion() ?? 0) >= 254
    ) -> String {
        func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return """
            [Unit]
            Description=Warden: supervises, heals and defends this node
            After=network-online.target
            Wants=network-online.target

            [Service]
            Type=notify
            NotifyAccess=main
            ExecStart=\(quoted(binary)) run -c \(quoted(spec))
            ExecReload=/bin/kill -HUP $MAINPID
            Restart=always
            RestartSec=1s
            WatchdogSec=\(Int(watchdog.seconds))s
            TimeoutStartSec=5min
            TimeoutStopSec=90s
            # Stopping or restarting the unit stops Warden alone: its services keep running and the
            # next Warden adopts them (it finds them by its state directory).
            KillMode=process
            # The unit's cgroup is Warden's to divide: each service gets a cgroup of its own under it
            # (limits, accounting, and a stop that no process escapes).
            Delegate=yes\(delegateSubgroup ? "\nDelegateSubgroup=warden.supervisor" : "")
            Environment=WARDEN_CONFIG=\(quoted(spec))
            ReadWritePaths=\(quoted(stateDir))
            LimitNOFILE=65536
            # What Warden needs: to start services as their users, signal them, manage the firewall,
            # bind privileged ports for probes and read every process's /proc entries. No more.
            CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_KILL CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_PTRACE CAP_SYS_RESOURCE CAP_AUDIT_WRITE
            ProtectKernelModules=yes
            ProtectKernelLogs=yes
            ProtectClock=yes
            ProtectHostname=yes
            RestrictRealtime=yes
            LockPersonality=yes
            RestrictNamespaces=~user
            SystemCallArchitectures=native

            [Install]
            WantedBy=multi-user.target

            """
    }
}
