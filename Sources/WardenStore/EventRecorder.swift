import Logging
import ServiceLifecycle
import WardenCore

/// Writes every event published on the bus to the store, in batches.
///
/// It subscribes when created, so no event published after `init` is missed. Its buffer is large
/// (a bus drop is counted and reported as `bus.dropped`, which is itself recorded). On graceful
/// shutdown it writes what is buffered and stops.
public final class EventRecorder: Service {
    private let store: any Store
    private let subscription: FanOutSubscription<Event>
    private let logger: Logger

    public init(bus: EventBus, store: any Store, logger: Logger, capacity: Int = 200_000) {
        self.store = store
        self.logger = logger
        self.subscription = bus.subscribe(name: "recorder", capacity: capacity)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                let batch = await subscription.nextBatch(max: 5_000)
                if batch.isEmpty { return }
                await write(batch)
            }
        } onGracefulShutdown: {
            // Run this service first in a ServiceGroup so that it shuts down last: everything the
            // other services published while stopping is buffered by then and still written.
            self.subscription.finish()
        }
    }

    private func write(_ batch: [Event]) async {
        var attempt = 0
        while true {
            do {
                try await store.append(batch)
                return
            } catch {
                attempt += 1
                logger.error(
                    "cannot record events",
                    metadata: [
                        "warden.error": "\(error)", "warden.events": "\(batch.count)", "warden.attempt": "\(attempt)",
                    ]
                )
                if attempt >= 5 { return }
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }
}
