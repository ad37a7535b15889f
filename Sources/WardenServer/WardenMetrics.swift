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
        if first { MetricsSystem.bootstrap(WardenMetricsFactory(registry: registry)) }
    }

    /// The `# HELP` text of each metric, by its exposed name.
    static let help: [String: String] = [
        "warden_services_running": "Services in the running state.",
        "warden_services_failed": "Services that gave up restarting (failed state).",
        "warden_service_restarts_total": "Automatic restarts of a service.",
        "warden_service_exits_total": "Exits of a service's main process.",
        "warden_events_committed_id": "The id of the last event committed to the store.",
        "warden_bus_dropped_events": "Events a slow subscriber could not take (delivered to the store regardless).",
        "warden_event_stream_clients": "Clients following the live event stream.",
        "warden_ingest_requests_total": "Ingest requests answered.",
        "warden_ingest_samples_total": "Ingested samples, by result (accepted or rejected).",
        "warden_ingest_series_refused_samples_total":
            "Samples refused because their series would exceed samples.max_series.",
        "warden_api_queries_timed_out_total": "Series queries stopped by api.query_timeout.",
        "warden_api_queries_abandoned_total": "Series queries cancelled because their client hung up.",
        "warden_defense_lines_total": "Log lines read by the defense.",
        "warden_defense_signals_total": "Signals about addresses found by the defense.",
        "warden_defense_tracked_addresses": "Addresses the defense is scoring.",
        "warden_defense_evicted_addresses": "Addresses evicted from the defense's bounded table.",
        "hb_requests_total": "HTTP requests answered, by route, method and status.",
        "hb_request_errors_total": "HTTP requests that ended in an error, by route, method and status.",
        "http_server_request_duration_seconds": "Time to answer an HTTP request, by route, method and status.",
        "warden_control_database_seconds": "Time the control plane's routes spend on the database.",
        "http_server_active_requests": "HTTP requests being answered.",
    ]

    /// The exposition text.
    public static func render() -> [UInt8] { registry.emitToBuffer() }
}
