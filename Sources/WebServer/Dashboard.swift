import Foundation
import Hummingbird
import NIOCore

/// The dashboard page (`GET /`) and what it loads: its own files (this module's `Dashboard` resources,
/// read once) and Leaflet and Chart.js from the Debian packages `libjs-leaflet` and `libjs-chart.js`
/// (`/usr/share/javascript`, or `serve --javascript-dir`), by a fixed list of names — no path from a request
/// reaches the file system.
/// When a library is missing its route answers 404 and the page says what to install.
enum Dashboard {
    /// Served name → (file under the JavaScript directory, content type).
    static let vendor: [String: (String, String)] = [
        "leaflet.js": ("leaflet/leaflet.js", "text/javascript"),
        "leaflet.css": ("leaflet/leaflet.css", "text/css"),
        "chart.js": ("chart.js/chart.min.js", "text/javascript"),
    ]

    static let own: [String: String] = [
        "index.html": "text/html; charset=utf-8", "dashboard.js": "text/javascript", "dashboard.css": "text/css",
        "services.html": "text/html; charset=utf-8", "services.js": "text/javascript", "services.css": "text/css",
        "prices.html": "text/html; charset=utf-8", "prices.js": "text/javascript",
    ]

    /// The page's own files, read from the resource bundle at first use.
    static let files: [String: [UInt8]] = {
        var files: [String: [UInt8]] = [:]
        guard let directory = Bundle.module.url(forResource: "Dashboard", withExtension: nil) else { return files }
        for name in own.keys {
            if let data = try? Data(contentsOf: directory.appendingPathComponent(name)) { files[name] = Array(data) }
        }
        return files
    }()

    static func register(
        on router: Router<BasicRequestContext>, javascript: String, count: @escaping @Sendable (String) -> Void
    ) {
        router.get("/") { _, _ in
            count("dashboard")
            return file("index.html")
        }
        router.get("/services/") { _, _ in
            count("dashboard")
            return file("services.html")
        }
        router.get("/services/prices.html") { _, _ in
            count("dashboard")
            return file("prices.html")
        }
        router.get("/dashboard/:file") { _, context in
            count("dashboard")
            return file(try context.parameters.require("file"))
        }
        router.get("/vendor/:file") { _, context in
            count("dashboard")
            let name = try context.parameters.require("file")
            guard let (path, type) = vendor[name],
                let data = FileManager.default.contents(atPath: javascript + "/" + path)
            else {
                return WebServer.problem(
                    .notFound,
                    "'\(name)' is not installed: sudo apt-get install libjs-leaflet libjs-chart.js (or bash scripts/install-deps.sh)"
                )
            }
            return response(Array(data), type: type)
        }
    }

    private static func file(_ name: String) -> Response {
        guard let type = own[name], let bytes = files[name] else {
            return WebServer.problem(.notFound, "no dashboard file '\(name)'")
        }
        return response(bytes, type: type)
    }

    private static func response(_ bytes: [UInt8], type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
