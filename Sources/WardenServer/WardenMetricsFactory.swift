import CoreMetrics
import Prometheus

/// The swift-metrics backend behind `/metrics`: Prometheus's registry, with a `# HELP` line for
/// every metric and Prometheus's naming conventions (`promtool check metrics` passes).
///
/// swift-metrics carries no help text, so it comes from ``WardenMetrics/help`` by name (a generic
/// line for a metric it does not know); counters get the `_total` suffix they must have
/// (Hummingbird's `hb.requests` becomes `hb_requests_total`), and Hummingbird's request duration
/// its unit (`http_server_request_duration_seconds`).
struct WardenMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    private let defaults: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.defaults = PrometheusMetricsFactory(registry: registry)
    }

    static func name(_ label: String, counter: Bool = false, seconds: Bool = false) -> String {
        var name = String(label.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
        if counter && !name.hasSuffix("_total") { name += "_total" }
        if seconds && !name.hasSuffix("_seconds") { name += "_seconds" }
        return name
    }

    static func help(_ name: String) -> String {
        WardenMetrics.help[name] ?? "Warden's \(name.replacingOccurrences(of: "_", with: " "))."
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let name = Self.name(label, counter: true)
        return registry.makeCounter(name: name, labels: dimensions, help: Self.help(name))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let name = Self.name(label, counter: true)
        return registry.makeCounter(name: name, labels: dimensions, help: Self.help(name))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let name = Self.name(label)
        guard aggregate else { return registry.makeGauge(name: name, labels: dimensions, help: Self.help(name)) }
        return registry.makeValueHistogram(
            name: name,
            labels: dimensions,
            buckets: defaults.valueHistogramBuckets[label] ?? defaults.defaultValueHistogramBuckets,
            help: Self.help(name)
        )
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let name = Self.name(label)
        return registry.makeGauge(name: name, labels: dimensions, help: Self.help(name))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let name = Self.name(label, seconds: true)
        return registry.makeDurationHistogram(
            name: name,
            labels: dimensions,
            buckets: defaults.durationHistogramBuckets[label] ?? defaults.defaultDurationHistogramBuckets,
            help: Self.help(name)
        )
    }

    func destroyCounter(_ handler: any CounterHandler) { defaults.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        defaults.destroyFloatingPointCounter(handler)
    }
    func destroyRecorder(_ handler: any RecorderHandler) { defaults.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { defaults.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { defaults.destroyTimer(handler) }
}
