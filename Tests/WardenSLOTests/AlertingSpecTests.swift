import Foundation
import Testing
import WardenCore
import WardenSLO
import WardenTestSupport

/// `alerting:` read, and its mistakes located.
@Suite("Spec: alerting")
struct AlertingSpecTests {
    let loader = SpecLoader(
        environment: ["PATH": "/usr/bin:/bin", "PD_KEY": "R0UT1NG"],
        sections: [AlertingSection.self]
    )

    @Test func receiversRoutesAndInhibitionAreRead() throws {
        let spec = try loader.parse(
            """
            services: {}
            alerting:
              node: web-1
              resolve_timeout: 10m
              events: [custom.disk_alarm]
              receivers:
                chat: { slack: { url: "https://hooks.example.com/T0/B0", attempts: 3 } }
                pager: { pagerduty: { routing_key: env:PD_KEY } }
                hook: { webhook: { url: "https://ops.example/alerts", send_resolved: false, timeout: 5s } }
                mail: { email: { smtp: "127.0.0.1:2525", from: warden@example.com, to: [ops@example.com] } }
              route:
                receiver: chat
                group_by: [alertname, service]
                group_wait: 10s
                routes:
                  - { match: [severity=critical], receiver: pager, continue: true }
                  - { match: ["service=~api|web"], receiver: hook, group_wait: 0s }
              inhibit:
                - { source: [alertname=NodeDown], target: [alertname!=NodeDown], equal: [node] }
            """,
            file: "warden.yaml",
            baseDir: "/tmp"
        )
        let alerting = try #require(spec.alerting)
        #expect(alerting.node == "web-1")
        #expect(alerting.resolveTimeout == .seconds(600))
        #expect(alerting.events == ["custom.disk_alarm"])
        #expect(alerting.receivers["chat"]?.kind == .slack(url: "https://hooks.example.com/T0/B0"))
        #expect(alerting.receivers["chat"]?.attempts == 3)
        guard case .pagerDuty(let url, let key) = alerting.receivers["pager"]?.kind else {
            Issue.record("pager is \(String(describing: alerting.receivers["pager"]))")
            return
        }
        #expect(url == AlertingSection.pagerDutyURL)
        #expect(key == Secret("R0UT1NG"))
        #expect(alerting.receivers["hook"]?.sendResolved == false)
        #expect(alerting.receivers["hook"]?.timeout == .seconds(5))
        #expect(
            alerting.receivers["mail"]?.kind
                == .email(
                    EmailSpec(
                        smtp: "127.0.0.1:2525",
                        sendmail: nil,
                        from: "warden@example.com",
                        to: ["ops@example.com"]
                    )
                )
        )
        #expect(alerting.route.receiver == "chat")
        #expect(alerting.route.groupWait == .seconds(10))
        #expect(alerting.route.routes.count == 2)
        // Children inherit what they do not set.
        #expect(alerting.route.routes[0].groupBy == ["alertname", "service"])
        #expect(alerting.route.routes[0].groupWait == .seconds(10))
        #expect(alerting.route.routes[0].continue)
        #expect(alerting.route.routes[1].groupWait == .zero)
        #expect(alerting.inhibit.first?.equal == ["node"])
    }

    @Test(arguments: [
        (
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n  route: { receiver: b }\n",
            "warden.yaml:3:22: alerting.route.receiver: no receiver named 'b'"
        ),
        (
            "alerting:\n  receivers: { a: { sms: { to: x } } }\n  route: { receiver: a }\n",
            "warden.yaml:2:21: alerting.receivers.a.sms: unknown key 'sms'"
        ),
        (
            "alerting:\n  receivers: { a: { slack: { url: ftp://x } } }\n  route: { receiver: a }\n",
            "warden.yaml:2:35: alerting.receivers.a.slack.url: found 'ftp://x'"
        ),
        (
            "alerting:\n  receivers: { a: { pagerduty: { routing_key: env:NOPE } } }\n  route: { receiver: a }\n",
            "warden.yaml:2:47: alerting.receivers.a.pagerduty.routing_key: "
        ),
        (
            "alerting:\n  receivers: { a: { email: { smtp: 'x:1', from: 'me', to: [a@b] } } }\n  route: { receiver: a }\n",
            "warden.yaml:2:28: alerting.receivers.a.email: 'me' is not a mail address"
        ),
        (
            "alerting:\n  receivers: { a: { email: { smtp: 'x:1', from: a@b, to: [\"x@y\\r\\nBcc: z@w\"] } } }\n  route: { receiver: a }\n",
            "warden.yaml:2:28: alerting.receivers.a.email: 'x@y\r\nBcc: z@w' is not a mail address"
        ),
        (
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n  route: { receiver: a, routes: [{ match: [service] }] }\n",
            "warden.yaml:3:44: alerting.route.routes[0].match: found 'service'; expected a matcher"
        ),
        (
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n  route: { receiver: a, match: [x=y] }\n",
            "warden.yaml:3:32: alerting.route.match: the root route takes every alert"
        ),
        (
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n  route: { receiver: a, group_interval: 0s }\n",
            "warden.yaml:3:41: alerting.route.group_interval: found 0s; expected at least 1s"
        ),
        (
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n",
            "warden.yaml:2:3: alerting: missing required key 'route'"
        ),
    ])
    func mistakesAreLocated(yaml: String, expected: String) {
        let problems = loader.problems(
            "services: {}\n" + yaml.replacingOccurrences(of: "warden.yaml:", with: "warden.yaml:")
        )
        let shifted = problems.map { p -> String in
            // The spec starts with `services: {}`: report lines as the case writes them.
            guard let line = p.split(separator: ":").dropFirst().first.flatMap({ Int($0) }) else { return p }
            return p.replacingOccurrences(of: "warden.yaml:\(line):", with: "warden.yaml:\(line - 1):")
        }
        #expect(shifted.count == 1, "\(shifted)")
        #expect(shifted.first?.hasPrefix(expected) == true, "\(shifted)")
    }

    @Test func deepRouteTreesAreRefused() {
        var route = "{ receiver: a }"
        for _ in 0..<20 { route = "{ receiver: a, routes: [\(route)] }" }
        let problems = loader.problems(
            "alerting:\n  receivers: { a: { slack: { url: https://x.example/h } } }\n  route: \(route)\n"
        )
        #expect(problems.contains { $0.contains("routes nest at most 16 deep") }, "\(problems)")
    }
}
