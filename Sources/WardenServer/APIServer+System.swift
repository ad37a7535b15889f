import Foundation
import HTTPTypes
import Hummingbird
import WardenCore

extension APIServer {
    func addSystemRoutes(_ router: Router<APIContext>) {
        let d = dependencies
        let metrics = self.metrics
        router.get("/healthz") { _, _ in
            APIServer.text("ok\n", contentType: "text/plain; charset=utf-8")
        }
        router.get("/readyz") { _, _ -> Response in
            let started = await d.supervisor.hasStarted
            guard started else {
                throw APIError(.serviceUnavailable, "not_ready", "Warden is still starting its services")
            }
            return APIServer.text("ready\n", contentType: "text/plain; charset=utf-8")
        }
        router.get("/metrics") { _, context -> Response in
            _ = try context.require(.viewer)
            let services = await d.supervisor.status()
            metrics.servicesRunning.record(services.filter { $0.state == "running" }.count)
            metrics.servicesFailed.record(services.filter { $0.state == "failed" }.count)
            metrics.busDropped.record(d.bus.totalDropped)
            metrics.eventsCommitted.record(d.recorder.committedID)
            return APIServer.metricsText()
        }
        // Mission Control: one self-contained page (no CDN, no build step); it asks for a viewer
        // token unless anonymous reads are on.
        router.get("/") { _, _ in APIServer.page(PackageResources.dashboard_html) }
        router.get("/ui.css") { _, _ in APIServer.styleSheet() }
        router.get("/v1/openapi.yaml") { _, _ in APIServer.document(PackageResources.openapi_yaml) }
        router.post("/v1/reload") { _, context -> Response in
            _ = try context.require(.admin, write: true)
            switch await d.reload() {
            case .applied(let summary): return try APIServer.json(summary)
            case .invalid(let problems):
                throw APIError(
                    .unprocessableContent,
                    "invalid_spec",
                    "the spec file has problems; nothing changed: " + problems.joined(separator: "; ")
                )
            }
        }
    }
}

extension APIServer {
    /// A self-contained page (inline script and style only, nothing from elsewhere).
    package static func page(_ html: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .init("Content-Security-Policy")!:
                    "default-src 'self'; script-src 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: html))
        )
    }

    /// The process's metrics in Prometheus's text format (``WardenMetrics``).
    package static func metricsText() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: WardenMetrics.render()))
        )
    }

    /// The style sheet every page of Warden shares (`/ui.css`).
    package static func styleSheet() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
            body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.ui_css))
        )
    }

    /// An OpenAPI document.
    package static func document(_ yaml: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/yaml"],
            body: .init(byteBuffer: ByteBuffer(bytes: yaml))
        )
    }

    /// A stream of server-sent events written by `body`.
    package static func eventStream(_ body: ResponseBody) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no",
            ],
            body: body
        )
    }
}
