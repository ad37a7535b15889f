import Foundation
import Testing
import WardenCore
import WardenSLO

/// The dispatcher's timing and muting, on a clock the test moves: grouping, group_wait,
/// group_interval, repeat_interval, resolved notifications, routes, inhibition and silences.
@Suite("Alert dispatcher")
struct AlertDispatcherTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { Self.t0.addingTimeInterval(seconds) }

    static func spec(_ edit: (inout AlertingSpec) -> Void = { _ in }) -> AlertingSpec {
        var spec = AlertingSpec()
        spec.receivers = [
            "chat": ReceiverSpec(name: "chat", kind: .slack(url: "https://chat.example/hook")),
            "pager": ReceiverSpec(name: "pager", kind: .webhook(url: "https://pager.example/hook")),
        ]
        spec.route = RouteSpec(receiver: "chat")
        spec.route.groupBy = ["alertname"]
        spec.route.groupWait = .seconds(30)
        spec.route.groupInterval = .seconds(300)
        spec.route.repeatInterval = .seconds(3600)
        edit(&spec)
        return spec
    }

    func alert(_ name: String, _ service: String, at t: Double, severity: String = "warning") -> Alert {
        Alert(labels: ["alertname": name, "service": service, "severity": severity, "node": "n1"], startsAt: at(t))
    }

    @Test func alertsOfOneGroupWaitAndGoTogether() {
        var d = AlertDispatcher(spec: Self.spec())
        d.fire(alert("ServiceFailed", "api", at: 0), now: at(0))
        d.fire(alert("ServiceFailed", "web", at: 10), now: at(10))
        #expect(d.flush(now: at(29)).isEmpty, "nothing before group_wait")
        #expect(d.nextDeadline(after: at(29)) == at(30))
        let sent = d.flush(now: at(30))
        #expect(sent.count == 1)
        #expect(sent.first?.firing.map { $0.labels["service"]! } == ["api", "web"])
        #expect(sent.first?.receiver == "chat")
        #expect(sent.first?.groupLabels == ["alertname": "ServiceFailed"])
        #expect(sent.first?.commonLabels == ["alertname": "ServiceFailed", "severity": "warning", "node": "n1"])
    }

    @Test func aNewcomerWaitsForTheGroupIntervalAndAStillFiringGroupIsRepeated() {
        var d = AlertDispatcher(spec: Self.spec())
        d.fire(alert("ServiceFailed", "api", at: 0), now: at(0))
        #expect(d.flush(now: at(30)).count == 1)
        d.fire(alert("ServiceFailed", "web", at: 40), now: at(40))
        #expect(d.flush(now: at(100)).isEmpty, "a change waits for group_interval after the last notification")
        let second = d.flush(now: at(330))
        #expect(second.first?.firing.count == 2)
        #expect(d.flush(now: at(1000)).isEmpty, "unchanged: nothing until repeat_interval")
        #expect(d.flush(now: at(330 + 3600)).first?.firing.count == 2, "repeated after repeat_interval")
        // Firing again changes nothing.
        d.fire(alert("ServiceFailed", "api", at: 4000), now: at(4000))
        #expect(d.flush(now: at(4400)).isEmpty)
    }

    @Test func resolvedAlertsAreToldOnceAndOnlyIfTheirFiringWas() {
        var d = AlertDispatcher(spec: Self.spec())
        let api = alert("ServiceFailed", "api", at: 0)
        d.fire(api, now: at(0))
        _ = d.flush(now: at(30))
        d.resolve(fingerprint: api.fingerprint, at: at(100))
        let resolved = d.flush(now: at(330))
        #expect(resolved.count == 1)
        #expect(resolved.first?.status == "resolved")
        #expect(resolved.first?.resolved.first?.endsAt == at(100))
        #expect(d.flush(now: at(10_000)).isEmpty, "told once; the group is gone")
        #expect(d.alerts.isEmpty)
        // A blip: fired and resolved within group_wait is never told of.
        let blip = alert("ServiceFailed", "web", at: 20_000)
        d.fire(blip, now: at(20_000))
        d.resolve(fingerprint: blip.fingerprint, at: at(20_005))
        #expect(d.flush(now: at(20_030)).isEmpty)
    }

    @Test func receiversThatDoNotWantResolvedNotificationsDoNotGetThem() {
        var d = AlertDispatcher(spec: Self.spec { $0.receivers["chat"]!.sendResolved = false })
        let api = alert("ServiceFailed", "api", at: 0)
        d.fire(api, now: at(0))
        _ = d.flush(now: at(30))
        d.resolve(fingerprint: api.fingerprint, at: at(60))
        #expect(d.flush(now: at(400)).isEmpty)
    }

    @Test func routesSendEachAlertWhereItBelongsAndContinueGoesOn() throws {
        let spec = Self.spec { s in
            var pager = RouteSpec(receiver: "pager")
            pager.matchers = [try! LabelMatcher.parse("severity=critical")]
            pager.continue = true
            pager.groupWait = .seconds(0)
            var catchAll = RouteSpec(receiver: "chat")
            catchAll.matchers = [try! LabelMatcher.parse("service=~api|web")]
            catchAll.groupBy = ["service"]
            s.route.routes = [pager, catchAll]
        }
        var d = AlertDispatcher(spec: spec)
        d.fire(alert("ServiceFailed", "api", at: 0, severity: "critical"), now: at(0))
        d.fire(alert("DiskFull", "db", at: 0), now: at(0))
        let now = d.flush(now: at(0))
        #expect(now.map(\.receiver) == ["pager"], "the pager route waits for nobody")
        let later = d.flush(now: at(30)).sorted { $0.groupKey < $1.groupKey }
        // api continues past the pager route into the service route; db matches no child: the root's.
        #expect(later.count == 2)
        #expect(Set(later.map(\.receiver)) == ["chat"])
        #expect(later.contains { $0.groupLabels == ["service": "api"] })
        #expect(later.contains { $0.groupLabels == ["alertname": "DiskFull"] })
    }

    @Test func aNodeThatIsDownMutesItsServicesAlertsButNotAnotherNodes() throws {
        let spec = Self.spec { s in
            s.inhibit = [
                InhibitRule(
                    source: [try! LabelMatcher.parse("alertname=NodeDown")],
                    target: [try! LabelMatcher.parse("alertname!=NodeDown")],
                    equal: ["node"]
                )
            ]
            s.route.groupBy = ["..."]
        }
        var d = AlertDispatcher(spec: spec)
        let down = Alert(labels: ["alertname": "NodeDown", "node": "n1"], startsAt: at(0))
        d.fire(down, now: at(0))
        d.fire(alert("ServiceFailed", "api", at: 1), now: at(1))
        var other = alert("ServiceFailed", "api", at: 1)
        other.labels["node"] = "n2"
        d.fire(other, now: at(1))
        let sent = d.flush(now: at(60))
        #expect(
            sent.flatMap(\.firing).map { $0.labels["alertname"]! + "@" + $0.labels["node"]! }.sorted() == [
                "NodeDown@n1", "ServiceFailed@n2",
            ]
        )
        #expect(d.inhibitedBy(alert("ServiceFailed", "api", at: 1)) == [down.fingerprint])
        // The node comes back: what it muted is told of.
        d.resolve(fingerprint: down.fingerprint, at: at(100))
        let after = d.flush(now: at(400))
        #expect(after.flatMap(\.firing).contains { $0.labels["node"] == "n1" && $0.labels["service"] == "api" })
    }

    @Test func aSilenceMutesUntilItEndsOrIsExpired() throws {
        var d = AlertDispatcher(spec: Self.spec())
        let silence = Silence(
            id: "s1",
            matchers: [try LabelMatcher.parse("service=api")],
            startsAt: at(0),
            endsAt: at(600),
            createdBy: "ops",
            comment: "deploy"
        )
        d.setSilence(silence, now: at(0))
        d.fire(alert("ServiceFailed", "api", at: 0), now: at(0))
        #expect(d.flush(now: at(30)).isEmpty)
        #expect(d.silencedBy(alert("ServiceFailed", "api", at: 0), now: at(30)) == ["s1"])
        #expect(d.nextDeadline(after: at(30))! <= at(600), "the silence's end is a deadline")
        #expect(d.flush(now: at(599)).isEmpty)
        let released = d.flush(now: at(600))
        #expect(released.first?.firing.count == 1, "told of when the silence ends")

        var e = AlertDispatcher(spec: Self.spec())
        e.setSilence(silence, now: at(0))
        e.fire(alert("ServiceFailed", "api", at: 0), now: at(0))
        #expect(e.flush(now: at(30)).isEmpty)
        e.expireSilence(id: "s1", at: at(100))
        #expect(e.flush(now: at(100)).first?.firing.count == 1, "expired early: told of at once")
        #expect(e.silences["s1"]?.state(at: at(100)) == "expired")
    }

    @Test func oneShotAlertsResolveThemselves() {
        var d = AlertDispatcher(spec: Self.spec())
        var oom = alert("ServiceOOMKilled", "api", at: 0)
        oom.expiresAt = at(300)
        d.fire(oom, now: at(0))
        #expect(d.flush(now: at(30)).first?.firing.count == 1)
        #expect(d.nextDeadline(after: at(30)) == at(300))
        _ = d.flush(now: at(300))
        let resolved = d.flush(now: at(330))
        #expect(resolved.first?.status == "resolved")
        #expect(resolved.first?.resolved.first?.endsAt == at(300))
    }

    @Test func theNumberOfAlertsHeldIsBounded() {
        var d = AlertDispatcher(spec: Self.spec())
        for i in 0..<(AlertDispatcher.maxAlerts + 5) { d.fire(alert("Flood", "s\(i)", at: 0), now: at(0)) }
        #expect(d.alerts.count == AlertDispatcher.maxAlerts)
        #expect(d.refused == 5)
    }

    @Test func matchersReadAsAlertmanagerWritesThem() throws {
        #expect(try LabelMatcher.parse("service=api").matches(["service": "api"]))
        #expect(try LabelMatcher.parse("service!=api").matches(["service": "web"]))
        #expect(try LabelMatcher.parse("service=~\"api|web\"").matches(["service": "web"]))
        #expect(try !LabelMatcher.parse("service=~api").matches(["service": "api2"]), "anchored")
        #expect(try LabelMatcher.parse("service!~a.*").matches(["service": "web"]))
        #expect(try LabelMatcher.parse("team=").matches([:]), "a missing label is empty")
        #expect(throws: AlertSpecError.self) { try LabelMatcher.parse("service") }
        #expect(throws: AlertSpecError.self) { try LabelMatcher.parse("1x=a") }
        #expect(throws: AlertSpecError.self) { try LabelMatcher.parse("x=~(") }
        #expect(throws: AlertSpecError.self) { try LabelMatcher.parse("x=" + String(repeating: "a", count: 300)) }
        // Patterns that take exponential (or very long) time in a backtracking engine are refused.
        for pattern in ["(a+)+b", "(a|aa)*c", "(?:x*)+", "(.*)\\1", "a*b*c*d*", "((a|b)c)+"] {
            #expect(throws: AlertSpecError.self, "\(pattern)") { try LabelMatcher.parse("x=~" + pattern) }
        }
        for pattern in [".*api.*", "web-[0-9]+|api", "(a|b)?c", "(?:api|web)-.*", "[(+*]x"] {
            #expect((try? LabelMatcher.parse("x=~" + pattern)) != nil, "\(pattern)")
        }
        // A long value is not tried (and does not match) rather than risking a long match.
        let long = String(repeating: "a", count: 300)
        #expect(try !LabelMatcher.parse("x=~a*").matches(["x": long]))
        #expect(try LabelMatcher.parse("x=~a*").matches(["x": String(repeating: "a", count: 200)]))
    }
}
