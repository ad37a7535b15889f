import Foundation
import PostgresNIO

/// A database URL as libpq writes it: `postgres://USER@HOST:PORT[,HOST:PORT…]/DATABASE`. Several
/// hosts name a primary and its standbys; the writable one is used. A password in the URL is
/// refused (secrets are referenced, not written): it is given apart.
public struct PostgresURL: Sendable, Equatable {
    public var user: String
    public var hosts: [Host]
    public var database: String

    public struct Host: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var port: Int
        public var description: String { name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)" }
    }

    /// The URL's parts, or why it is not such a URL.
    public static func parse(_ text: String) -> Result<PostgresURL, URLProblem> {
        guard text.utf8.count <= 2048 else { return .failure(URLProblem("longer than 2048 bytes")) }
        var rest = Substring(text)
        if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst(11)
        } else if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst(13)
        } else {
            return .failure(URLProblem("it must start with postgres://"))
        }
        guard let at = rest.firstIndex(of: "@") else {
            return .failure(URLProblem("give the user: postgres://USER@HOST:PORT/DATABASE"))
        }
        let userPart = rest[..<at]
        if userPart.contains(":") {
            return .failure(URLProblem("no password in the URL; give it with --database-password env:NAME"))
        }
        guard !userPart.isEmpty, let user = String(userPart).removingPercentEncoding else {
            return .failure(URLProblem("give the user: postgres://USER@HOST:PORT/DATABASE"))
        }
        rest = rest[rest.index(after: at)...]
        guard let slash = rest.firstIndex(of: "/") else {
            return .failure(URLProblem("give the database: postgres://USER@HOST:PORT/DATABASE"))
        }
        let database = String(rest[rest.index(after: slash)...].prefix { $0 != "?" })
        guard !database.isEmpty, !database.contains("/") else {
            return .failure(URLProblem("give the database: postgres://USER@HOST:PORT/DATABASE"))
        }
        var hosts: [Host] = []
        for part in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false) {
            guard let host = Self.host(part) else {
                return .failure(URLProblem("'\(part.prefix(80))' is not HOST or HOST:PORT"))
            }
            hosts.append(host)
        }
        guard !hosts.isEmpty, hosts.count <= 16 else { return .failure(URLProblem("give 1 to 16 hosts")) }
        return .success(PostgresURL(user: user, hosts: hosts, database: database))
    }

    static func host(_ text: Substring) -> Host? {
        var name = text
        var port = 5432
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return nil }
            let after = name[name.index(after: close)...]
            name = name[name.index(after: name.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = name.lastIndex(of: ":") {
            guard let p = Int(name[name.index(after: colon)...]) else { return nil }
            port = p
            name = name[..<colon]
        }
        guard !name.isEmpty, (1...65535).contains(port),
            name.allSatisfy({ $0.isLetter || $0.isNumber || ".-:".contains($0) })
        else { return nil }
        return Host(name: String(name), port: port)
    }

    /// Connections to the writable host kept open at all times.
    public static let warmConnections = 8

    /// The client settings for one of the hosts: without TLS on loopback, preferring it elsewhere.
    public func configuration(_ host: Host, password: String?) -> PostgresClient.Configuration {
        let loopback = host.name == "127.0.0.1" || host.name == "localhost" || host.name == "::1"
        var configuration = PostgresClient.Configuration(
            host: host.name,
            port: host.port,
            username: user,
            password: password,
            database: database,
            tls: loopback ? .disable : .prefer(.makeClientConfiguration())
        )
        // Connections kept open whatever the demand: a burst does not wait for new ones (a
        // server process each) to be made.
        configuration.options.minimumConnections = Self.warmConnections
        return configuration
    }
}

/// Why a database URL is not one.
public struct URLProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
