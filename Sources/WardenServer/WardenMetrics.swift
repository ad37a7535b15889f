import Metrics
import Prometheus
import Synchronization

/// Warden's own metrics, exported in Prometheus text format at `/metrics`.
///
/// swift-metrics has one process-wide backend; ``bootstrap()`` installs the Prometheus registry
/// once (later calls are no-ops), so every component can create its metrics through swift-metrics.
public enum WardenMetrics {
    /// The registry behind `/metrics`.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped = Mutex(false)

    /// Makes swift-metrics report into ``registry``.
    public static func bootstrap() {
        let first = bootstrapped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
    }

    /// The exposition text.
    public static func render() -> [UInt8] { registry.emitToBuffer() }
}
