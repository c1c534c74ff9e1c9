import Foundation
import Testing

/// schemathesis (PyPI) against `GET /openapi.json` of a running `eventlog serve --http`: a bounded number
/// of generated requests per operation (valid and invalid: wrong types, missing fields, odd strings), checking
/// that no answer is a server error and that every answer's status, content type and body match the document.
/// The event stream is left out: its answers never end.
@Suite("OpenAPI conformance (schemathesis)", .serialized)
struct SchemathesisTests {
    @Test("generated requests for every documented operation: no 5xx, statuses, content types and bodies as documented")
    func conformance() async throws {
        let server = try await KafkaHarness(arguments: ["--http", "127.0.0.1:0"])
        let http = try #require(server.http)
        // A few resources to find, so some operations answer more than 404.
        for account in ["acct-1", "acct-2"] {
            _ = try await runTool(
                "curl", ["-s", "-X", "POST", "http://\(http)/v1/orders", "-d", #"{"accountId":"\#(account)"}"#])
        }
        let result = try await runTool(
            "schemathesis",
            [
                "run", "http://\(http)/openapi.json", "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                "--max-examples", "25", "--seed", "20261205", "--request-timeout", "10",
                "--exclude-path-regex", "^/v1/stream",
            ], timeout: 600)
        print(result.stdout.suffix(1500))
        #expect(result.status == 0, "\(result.stdout.suffix(6000))\n\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("passed"))
        try await server.stop()
    }
}
