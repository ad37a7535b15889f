/// The dashboard's session cookie.
public enum SessionCookie {
    /// `__Host-`: the browser takes it only from this very origin over HTTPS, with `Path=/` and
    /// no `Domain`, so a sibling host or another port cannot plant one (RFC 6265bis).
    public static let name = "__Host-warden_session"
    /// The sign-in's state, for the callback to check that it completes in the same browser.
    public static let loginName = "__Host-warden_login"

    /// The cookie `name`'s value among the request's `Cookie` headers (nil when absent or odd).
    public static func value(of headers: [String], name: String = SessionCookie.name) -> String? {
        for header in headers.prefix(10) where header.utf8.count <= 8192 {
            for pair in header.split(separator: ";").prefix(50) {
                let trimmed = pair.drop(while: { $0 == " " })
                guard trimmed.hasPrefix(name + "=") else { continue }
                let value = trimmed.dropFirst(name.count + 1)
                guard !value.isEmpty, value.utf8.count <= 128,
                    value.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
                else { return nil }
                return String(value)
            }
        }
        return nil
    }

    /// `Set-Cookie` for a value that only this site's HTTPS requests carry, unseen by scripts.
    public static func set(_ name: String, _ value: String, maxAge: Int, sameSite: String) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=\(sameSite)"
    }
}
