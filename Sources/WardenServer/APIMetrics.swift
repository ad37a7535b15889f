import Metrics

/// The API's own counters (created once, bounded labels).
struct APIMetrics: Sendable {
    let samplesAccepted = Counter(label: "warden_ingest_samples_total", dimensions: [("result", "accepted")])
    let samplesRejected = Counter(label: "warden_ingest_samples_total", dimensions: [("result", "rejected")])
    let ingestRequests = Counter(label: "warden_ingest_requests_total")
    let seriesRefused = Counter(label: "warden_ingest_series_refused_samples_total")
    let queriesTimedOut = Counter(label: "warden_api_queries_timed_out_total")
    let queriesAbandoned = Counter(label: "warden_api_queries_abandoned_total")
    let busDropped = Gauge(label: "warden_bus_dropped_events")
    let eventsCommitted = Gauge(label: "warden_events_committed_id")
    let servicesRunning = Gauge(label: "warden_services_running")
    let servicesFailed = Gauge(label: "warden_services_failed")
    let sseClients = Meter(label: "warden_event_stream_clients")
}
