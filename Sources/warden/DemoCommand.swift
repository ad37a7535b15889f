import ArgumentParser
import CWardenSys
import Foundation
import Logging
import WardenCore
import WardenDefense
import WardenHTTP
import WardenServer
import WardenSim
import WardenStore
import WardenSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// Mission Control in one command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Mission Control in one command: a simulated crew, a life-support service, prediction, healing.",
        discussion: """
            Runs Warden on an embedded spec with SQLite in a temporary directory: a life-support service \
            (warden-sample) that fails when the simulated fault reaches its critical point unless it was rebuilt \
            first, the vitals simulator, a One-Class SVM monitor (threshold 0.9, heal: rebuild), and the defense \
            (dry-run unless run as root with nft). Open the printed URL; Ctrl-C stops everything.
            """
    )

    @Option(help: "The dashboard and API port (another free one if it is taken).") var port: Int = 7070
    @Option(help: "Simulated seconds per wall second.") var speed: Double = 60
    @Option(help: "Random seed for the vitals and the faults.") var seed: UInt64 = 7
    @Option(help: "nftables or dry-run (default: nftables as root with nft installed, else dry-run).")
    var firewall: String?
    @Option(name: .customLong("state-dir"), help: "Keep the demo's state here (default: a new temporary directory).")
    var stateDir: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "warning"
    @Flag(
        name: .customLong("print-spec"),
        help: "Print the spec the demo would run (for --state-dir, --port and --speed) and exit."
    )
    var printSpec = false

    func run() async throws {
        warden_stdout_line_buffered()
        startLogging(logLevel, default: .warning)
        let logger = Logger(label: "warden")
        let dir: String
        if let stateDir {
            dir = (stateDir as NSString).standardizingPath
            if !printSpec { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        } else if printSpec {
            dir = "/tmp/warden-demo"
        } else {
            var template = Array("/tmp/warden-demo-XXXXXX".utf8CString)
            guard mkdtemp(&template) != nil else {
                printError("warden: cannot make a temporary directory")
                throw ExitCode(1)
            }
            dir = String(cString: template)
        }
        let wall = firewall ?? (getuid() == 0 && access("/usr/sbin/nft", X_OK) == 0 ? "nftables" : "dry-run")
        guard ["nftables", "dry-run"].contains(wall) else {
            printError("warden: --firewall: found '\(wall)'; expected nftables or dry-run")
            throw ExitCode(1)
        }
        guard speed > 0, speed <= 100_000 else {
            printError("warden: --speed: found \(speed); expected a number above 0 and at most 100000")
            throw ExitCode(1)
        }
        let apiPort =
            printSpec || PortCheck.listenProblem(host: "127.0.0.1", port: port) == nil
            ? port : PortCheck.freeLoopbackPort()
        // warden-sample is installed next to warden.
        let exe =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let sample = ((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("warden-sample")
        let specText = Self.spec(dir: dir, port: apiPort, sample: sample, firewall: wall, speed: speed)
        if printSpec {
            print(specText)
            return
        }
        let specPath = (dir as NSString).appendingPathComponent("warden.yaml")
        try specText.write(toFile: specPath, atomically: true, encoding: .utf8)
        let spec: Spec
        do {
            spec = try SpecLoader.warden().load(path: specPath)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let agent = try Agent.build(spec: spec, logger: logger)
        let token = LocalToken.read(in: (dir as NSString).appendingPathComponent("state/run"))
        var options = SimulationRunner.Options()
        options.speed = speed
        options.seed = seed
        options.link = (dir as NSString).appendingPathComponent("sim")
        options.schedule = SimulateCommand.schedule(
            kinds: [.hypoxia, .tachycardia, .fever, .dropout, .crash, .stuck],
            first: 75 * speed,
            every: 30 * speed,
            seed: seed
        )
        let runner = SimulateCommand.runner(
            options: options,
            client: WardenAPIClient(host: "127.0.0.1", port: apiPort, token: token)
        ) { print("  sim \($0)") }
        print(
            """
            Warden demo: state in \(dir), firewall \(wall)
              Mission Control: http://127.0.0.1:\(apiPort)/
              The monitor learns the crew's normal vitals for a minute; then a fault every 30 s
              (hypoxia, tachycardia, fever, sensor dropout, sudden crash, stuck sensor), \(Int(speed))x faster than life.
              Ctrl-C stops everything.
            """
        )
        Thread {
            // Wait for the API, then stream.
            let probe = WardenAPIClient(host: "127.0.0.1", port: apiPort, token: nil, timeout: .seconds(1))
            for _ in 0..<100 {
                if (try? probe.sendWaiting("GET", "/healthz"))?.status == 200 { break }
                usleep(100_000)
            }
            runner.run()
        }.start()
        try await agent.run()
        runner.stop()
    }

    /// The demo's spec for a simulation `speed` times faster than life. The monitor's and the
    /// healing's times are wall times, set so that they mean the same simulated times at any speed:
    /// at 60x, 60 s of training is an hour of the crew's life.
    static func spec(dir: String, port: Int, sample: String, firewall: String, speed: Double = 60) -> String {
        /// `simulated` seconds of the crew's life, as a wall-time duration.
        func life(_ simulated: Double) -> String {
            DurationFormat.format(.milliseconds(max(1, Int((simulated / speed * 1000).rounded()))))
        }
        return """
            # The spec `warden demo` runs (written here so that you can read it and reuse it).
            state_dir: \(dir)/state
            api: { listen: 127.0.0.1:\(port), anonymous_read: true }
            samples: { raw: 24h }
            healing: { verify: \(life(1200)), settle: \(life(180)), max: 20 in \(life(7200)) }

            services:
              life-support:
                # Fails as soon as the simulated fault reaches its critical point (sim/critical).
                run: [\(sample), --crash-when, \(dir)/sim/critical, --print-every, 10s, --message, "life support nominal"]
                restart: { backoff: 100ms..2s, give_up: 3 in 30s }
                heal: [restart, rebuild]        # after the fact, when the prediction came too late
                rebuild:
                  # Destroy the service's working directory and provision a fresh one, then tell the
                  # simulation the hardware was replaced.
                  - [/bin/sh, -c, "rm -rf \(dir)/work && echo destroyed"]
                  - [/bin/sh, -c, "mkdir -p \(dir)/work && date > \(dir)/work/provisioned && echo provisioned"]
                  - [/bin/sh, -c, "rm -f \(dir)/sim/critical && touch \(dir)/sim/repaired && echo repaired"]

            monitors:
              life-support:
                series: [vitals.heart_rate, vitals.spo2, vitals.temperature, vitals.respiration]
                model: one-class-svm
                train: \(life(3600))
                retrain: \(life(5_184_000))
                # What the monitor's evidence (the posterior that an anomaly is under way) has meant:
                # [evidence, share of such moments followed by a failure within 15 simulated minutes],
                # measured on simulated days (`warden simulate --scorecard --fit-calibration`, seeds
                # 101 to 110, 12 knots). The dashboard shows the mapped probability, and the threshold
                # applies to it: 0.34 alerts where the evidence reaches 0.9.
                calibration: [[0.00147, 0.021], [0.00238, 0.029], [0.00891, 0.040], [0.0376, 0.102],
                  [0.164, 0.156], [0.535, 0.203], [0.801, 0.264], [0.9018, 0.348], [0.9457, 0.489],
                  [0.9613, 0.619], [0.9660, 0.756]]
                threshold: 0.34                 # a failure within 15 minutes one time in three: rebuild
                for: \(life(180))
                smoothing: 4                    # consecutive samples that count as one witness
                # After a rebuild the vitals take a few minutes to recover: that is not a new failure.
                after_heal: \(life(180))
                align: \(life(1))                # readings come every 5 simulated seconds
                heal: rebuild life-support

            defense:
              firewall: \(firewall)
              watch: [connections]
            """
    }
}
