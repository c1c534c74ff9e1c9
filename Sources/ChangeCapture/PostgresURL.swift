public import Foundation
public import PostgresNIO

/// `postgres://user:password@host:port/database`, parsed once. Its ``description`` never shows the password.
public struct PostgresURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Parses `postgres://` or `postgresql://` URLs; the password may also come from `PGPASSWORD`.
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(CaptureError)
    {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw CaptureError(
                .invalidConfiguration,
                "--url must look like postgres://user:password@host:5432/database, got '\(Self.redacted(text))'")
        }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? 5432
        user = components.user ?? environment["PGUSER"] ?? "postgres"
        password = components.password ?? environment["PGPASSWORD"]
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value,
            mode != "disable" && mode != "prefer" && mode != "allow"
        {
            throw CaptureError(
                .invalidConfiguration,
                "sslmode=\(mode) is not supported: the connector talks to PostgreSQL without TLS (loopback or a trusted network)"
            )
        }
    }

    /// The URL with its password replaced by `***`.
    public var description: String { "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" }

    /// `text` with anything between `://user:` and `@` hidden, for error messages about unparseable URLs.
    static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else {
            return text
        }
        let credentials = text[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    /// postgres-nio's connection settings for this URL (no TLS).
    public var connectionConfiguration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }
}
