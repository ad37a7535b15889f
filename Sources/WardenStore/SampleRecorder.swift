import Foundation
import Logging
import Metrics
import ServiceLifecycle
import WardenCore

/// Stores samples produced inside Warden (service CPU and memory) and passes them on to the
/// sample feed that monitors read.
public final class SampleRecorder: Service {
    private let subscription: FanOutSubscription<Sample>
    private let store: any Store
    private let feed: FanOut<SampleBatch>
    private let logger: Logger

    public init(source: FanOut<Sample>, store: any Store, feed: FanOut<SampleBatch>, logger: Logger) {
        subscription = source.subscribe(name: "sample-recorder", capacity: 100_000)
        self.store = store
        self.feed = feed
        self.logger = logger
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                let samples = await subscription.nextBatch(max: 10_000)
                if samples.isEmpty { return }
                var batch = SampleBatch()
                for s in samples {
                    batch.append(
                        SeriesKey(name: s.series, labels: s.labels),
                        time: Int64(s.time.timeIntervalSince1970 * 1e6),
                        value: s.value
                    )
                }
                do {
                    try await store.appendSamples(batch)
                } catch {
                    logger.error(
                        "cannot record samples",
                        metadata: ["warden.error": "\(error)", "warden.samples": "\(samples.count)"]
                    )
                }
                feed.send(batch)
            }
        } onGracefulShutdown: {
            self.subscription.finish()
        }
    }
}

/// Rolls raw samples up into 1-minute buckets (and whole hours into 1-hour ones) and applies
/// sample retention, every minute. `warden_samples_rolled_up_to_seconds` is the time (Unix
/// seconds) up to which every minute is rolled up: how far behind the rollups are.
public struct SampleMaintenance: Service {
    static let rolledUpTo = Gauge(label: "warden_samples_rolled_up_to_seconds")

    let store: any Store
    let spec: SamplesSpec
    let clock: any WardenClock
    let logger: Logger

    public init(store: any Store, spec: SamplesSpec, clock: any WardenClock = SystemClock(), logger: Logger) {
        self.store = store
        self.spec = spec
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = clock.wallTime()
            do {
                // Late samples have two minutes to arrive before their minute is rolled up. A
                // pass over millions of samples takes a while: shutdown interrupts it (what was
                // not committed is rolled up at the next start), since the services stop in
                // reverse order and the supervisor, which stops the services, waits behind this.
                let store = self.store
                let spec = self.spec
                let report = try await cancelWhenGracefulShutdown {
                    try await store.rollUp(
                        upTo: now.addingTimeInterval(-120),
                        rawBefore: now.addingTimeInterval(-spec.raw.seconds),
                        rollupsBefore: now.addingTimeInterval(-spec.retention.seconds),
                        hoursBefore: now.addingTimeInterval(-spec.hourly.seconds)
                    )
                }
                Self.rolledUpTo.record(report.rolledUpTo.timeIntervalSince1970)
                if report.rawDeleted > 0 || report.rollupsDeleted > 0 {
                    logger.debug(
                        "samples rolled up",
                        metadata: [
                            "warden.raw_deleted": "\(report.rawDeleted)",
                            "warden.rollups_deleted": "\(report.rollupsDeleted)",
                        ]
                    )
                }
            } catch {
                if Task.isShuttingDownGracefully { return }
                logger.warning("sample maintenance failed", metadata: ["warden.error": "\(error)"])
            }
            let clock = self.clock
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: .seconds(60)) }
        }
    }
}
