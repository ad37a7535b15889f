import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WardenCore
import WardenDefense

extension APIServer {
    func addBanRoutes(_ router: Router<APIContext>) {
        guard let bans = dependencies.bans else { return }
        let clock = dependencies.clock
        router.get("/v1/bans") { request, context -> Response in
            _ = try context.require(.viewer)
            let params = request.uri.queryParameters
            var all = false
            if let text = params.get("all") {
                guard let b = Bool(text) else {
                    throw APIError.badRequest("found '\(text)'; expected true or false", field: "all")
                }
                all = b
            }
            let limit = try APIServer.intParameter(params, "limit", default: 100, range: 1...1_000_000)
            let now = clock.wallTime()
            let list: [Ban]
            if all {
                list = try await bans.history(limit: limit)
            } else {
                list = Array(await bans.active().prefix(limit))
            }
            return APIServer.jsonValue([
                "firewall": .string(await bans.firewallName),
                "bans": .array(list.map { $0.json(now: now) }),
            ])
        }
        router.post("/v1/bans") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let buffer = try await self.body(request)
            guard let body = JSONValue.parse(String(buffer: buffer)), case .object = body else {
                throw APIError.badRequest(
                    "the body must be a JSON object such as {\"address\": \"203.0.113.5\", \"for\": \"1h\"}"
                )
            }
            guard let text = body["address"]?.stringValue else {
                throw APIError.badRequest("missing 'address' (an IPv4 or IPv6 address)", field: "address")
            }
            guard let address = IPAddress(text) else {
                throw APIError.badRequest("found '\(text)'; expected an IPv4 or IPv6 address", field: "address")
            }
            var duration: Duration?
            if let f = body["for"] {
                guard let t = f.stringValue, let d = DurationFormat.parse(t), d >= .seconds(1),
                    d <= .seconds(365 * 86_400)
                else {
                    throw APIError.badRequest(
                        "found \(f.jsonText); expected a duration from 1s to 365d such as \"1h\"",
                        field: "for"
                    )
                }
                duration = d
            }
            let reason = body["reason"]?.stringValue ?? "banned by \(who.name)"
            guard reason.count <= 500 else { throw APIError.badRequest("at most 500 characters", field: "reason") }
            switch await bans.ban(
                address,
                reason: reason,
                source: "manual:\(who.name)",
                duration: duration,
                manual: true
            ) {
            case .banned(let ban), .already(let ban):
                return APIServer.jsonValue(ban.json(now: clock.wallTime()), status: .created)
            case .refused(let why):
                throw APIError(.conflict, "refused", "\(address) may not be banned: \(why)", field: "address")
            case .capped:
                throw APIError(.conflict, "refused", "too many bans", field: "address")
            }
        }
        // A list of addresses banned at once (a blocklist): one per line, `#` comments.
        router.post("/v1/bans/list") { request, context -> Response in
            let who = try context.require(.operator, write: true)
            let params = request.uri.queryParameters
            guard let text = params.get("for") else {
                throw APIError.badRequest("give how long: ?for=1d (1s to 365d)", field: "for")
            }
            guard let duration = DurationFormat.parse(text), duration >= .seconds(1), duration <= .seconds(365 * 86_400)
            else {
                throw APIError.badRequest(
                    "found '\(text.prefix(40))'; expected a duration from 1s to 365d",
                    field: "for"
                )
            }
            let reason = params.get("reason") ?? "list banned by \(who.name)"
            guard reason.count <= 500 else { throw APIError.badRequest("at most 500 characters", field: "reason") }
            let buffer = try await self.body(request)
            let addresses: [IPAddress]
            switch AddressList.parse(String(buffer: buffer)) {
            case .success(let list): addresses = list
            case .failure(let problem):
                throw APIError.badRequest("line \(problem.line): \(problem.message)", field: "body")
            }
            let outcome = await bans.banList(
                addresses,
                duration: duration,
                reason: reason,
                source: "list:\(who.name)"
            )
            return APIServer.jsonValue([
                "banned": .int(Int64(outcome.banned)),
                "already": .int(Int64(outcome.already)),
                "refused": .array(
                    outcome.refused.prefix(100).map {
                        .object(["address": .string($0.address.description), "reason": .string($0.why)])
                    }
                ),
                "refused_count": .int(Int64(outcome.refused.count)),
                "firewall": .string(await bans.firewallName),
            ])
        }
        router.delete("/v1/bans/{address}") { _, context -> Response in
            let who = try context.require(.operator, write: true)
            let text = try context.pathParameter("address")
            guard let address = IPAddress(text) else {
                throw APIError.badRequest("found '\(text)'; expected an IPv4 or IPv6 address", field: "address")
            }
            guard let ban = await bans.unban(address, by: who.name) else {
                throw APIError.notFound("\(address) is not banned")
            }
            return APIServer.jsonValue(ban.json(now: clock.wallTime()))
        }
    }
}
