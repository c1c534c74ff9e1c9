import Foundation

/// The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json` (written by hand: the log's
/// routes as text, the order and driver resources generated from one template each; a test checks that every
/// path it lists is served).
enum OpenAPIDocument {
    /// The whole document.
    static let json: String = document(services: false)
    /// With the services' routes (`serve --services`).
    static let jsonWithServices: String = document(services: true)

    private static func document(services: Bool) -> String {
        guard var document = try? JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any],
            var paths = document["paths"] as? [String: Any]
        else { return base }
        for kind in ["order", "driver"] { paths.merge(aggregatePaths(kind)) { a, _ in a } }
        if services { paths.merge(servicePaths()) { a, _ in a } }
        document["paths"] = paths
        let data = try? JSONSerialization.data(
            withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? base
    }

    private static func json(_ description: String) -> [String: Any] {
        ["description": description, "content": ["application/json": ["schema": ["type": "object"]]]]
    }

    /// The order saga's routes (``ServicesAPI``).
    private static func servicePaths() -> [String: Any] {
        let order: [String: Any] = [
            "type": "object", "required": ["account", "item", "location"],
            "properties": [
                "account": ["type": "string"], "item": ["type": "string"], "location": ["type": "string"],
                "quantity": ["type": "integer", "minimum": 1, "maximum": 1000],
            ],
        ]
        func get(_ summary: String, _ parameters: [[String: Any]], notFound: Bool = true) -> [String: Any] {
            var responses: [String: Any] = ["200": json(summary)]
            if notFound { responses["404"] = problem("Unknown") }
            return ["get": ["summary": summary, "parameters": parameters, "responses": responses]]
        }
        return [
            "/v1/services/orders": [
                "post": [
                    "summary": "Place an order: its saga starts (wait=true: answer when it ended)",
                    "parameters": [
                        ["name": "wait", "in": "query", "required": false, "schema": ["type": "boolean"]]
                    ],
                    "requestBody": ["required": true, "content": ["application/json": ["schema": order]]],
                    "responses": [
                        "201": json("The order, its saga ended"), "202": json("The order, its saga started"),
                        "400": problem("A bad body"), "422": problem("The order could not be placed"),
                    ],
                ],
                "get": [
                    "summary": "The last orders, newest first",
                    "parameters": [
                        [
                            "name": "limit", "in": "query", "required": false,
                            "schema": ["type": "integer", "minimum": 1, "maximum": 200],
                        ]
                    ],
                    "responses": ["200": json("Orders with their status and the steps they wait on")],
                ],
            ],
            "/v1/services/orders/{id}": get("One order", [parameter("id")]),
            "/v1/services/sagas/{id}": get("A saga's events in order", [parameter("id")]),
            "/v1/services/accounts/{id}": get("An account", [parameter("id")]),
            "/v1/services/items/{id}": get("A catalog item", [parameter("id")]),
            "/v1/services/stock/{item}/{location}": get(
                "Stock of an item at a location", [parameter("item"), parameter("location")]),
            "/v1/services/prices": get("Price changes captured from the catalog's database", []),
        ]
    }

    private static func problem(_ description: String) -> [String: Any] {
        [
            "description": description,
            "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]],
        ]
    }

    private static func hal(_ description: String) -> [String: Any] {
        [
            "description": description,
            "content": ["application/hal+json": ["schema": ["$ref": "#/components/schemas/HAL"]]],
        ]
    }

    private static func parameter(_ name: String, in place: String = "path", required: Bool = true) -> [String: Any] {
        ["name": name, "in": place, "required": required, "schema": ["type": "string"]]
    }

    /// The HAL API's paths for `orders` or `drivers`.
    private static func aggregatePaths(_ kind: String) -> [String: Any] {
        let base = "/v1/\(kind)s"
        let paging = [
            ["name": "page", "in": "query", "required": false, "schema": ["type": "integer", "minimum": 0]],
            [
                "name": "size", "in": "query", "required": false,
                "schema": ["type": "integer", "minimum": 1, "maximum": 1000],
            ],
        ]
        let unavailable = problem("The log's topic cannot hold the order API's streams (it has several partitions)")
        let createBody: [String: Any] =
            kind == "order"
            ? ["type": "object", "required": ["accountId"], "properties": ["accountId": ["type": "string"]]]
            : [
                "type": "object", "required": ["lat", "lon"],
                "properties": ["lat": ["type": "number"], "lon": ["type": "number"]],
            ]
        var paths: [String: Any] = [
            base: [
                "get": [
                    "summary": "The \(kind)s, paged", "parameters": paging,
                    "responses": ["200": hal("A page"), "400": problem("A bad page or size"), "503": unavailable],
                ],
                "post": [
                    "summary": "Creates a \(kind)",
                    "requestBody": ["required": true, "content": ["application/json": ["schema": createBody]]],
                    "responses": [
                        "201": hal("The new \(kind)"), "400": problem("Malformed JSON or fields"), "503": unavailable,
                    ],
                ],
            ],
            "\(base)/{id}": [
                "get": [
                    "summary": "The \(kind), folded from its events (ETag: its version)",
                    "parameters": [parameter("id")],
                    "responses": ["200": hal("The \(kind)"), "404": problem("No such \(kind)"), "503": unavailable],
                ]
            ],
            "\(base)/{id}/events": [
                "get": [
                    "summary": "The \(kind)'s events, paged", "parameters": [parameter("id")] + paging,
                    "responses": [
                        "200": hal("A page of events"), "400": problem("A bad page or size"),
                        "404": problem("No such \(kind)"), "503": unavailable,
                    ],
                ]
            ],
            "\(base)/{id}/events/{eventId}": [
                "get": [
                    "summary": "One event", "parameters": [parameter("id"), parameter("eventId")],
                    "responses": [
                        "200": hal("The event"), "404": problem("No such \(kind) or event"), "503": unavailable,
                    ],
                ]
            ],
            "\(base)/{id}/commands": [
                "get": [
                    "summary": "The \(kind)'s commands, as templated links", "parameters": [parameter("id")],
                    "responses": ["200": hal("The commands"), "404": problem("No such \(kind)"), "503": unavailable],
                ]
            ],
            "\(base)/{id}/commands/{command}": [
                "post": [
                    "summary": "Runs a command (its parameters in the query, e.g. assignOrder?restaurantId=)",
                    "parameters": [
                        parameter("id"), parameter("command"),
                        ["name": "If-Match", "in": "header", "required": false, "schema": ["type": "string"]],
                    ],
                    "responses": [
                        "200": hal("The \(kind) after the command"),
                        "400": problem(
                            "The command is not allowed in the current state, or a parameter is missing or bad"),
                        "404": problem("No such \(kind) or command"),
                        "409": problem(
                            "If-Match names another version, or another writer changed the \(kind) meanwhile"),
                        "503": unavailable,
                    ],
                ]
            ],
        ]
        if kind == "order" {
            paths["/v1/restaurants"] = [
                "get": [
                    "summary": "The restaurants orders can be assigned to (assignOrder?restaurantId=storeId), paged",
                    "parameters": paging, "responses": ["200": hal("A page"), "400": problem("A bad page or size")],
                ]
            ]
            paths["/v1/orders/search/findOrdersByAccountId"] = [
                "get": [
                    "summary": "The orders of an account", "parameters": [parameter("accountId", in: "query")],
                    "responses": ["200": hal("The orders"), "400": problem("No accountId"), "503": unavailable],
                ]
            ]
        }
        return paths
    }

    private static let base = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "EventLog HTTP API",
            "version": "1.0.0",
            "description": "The embedded log over HTTP: topics, live event streams, Pinot-compatible SQL over live tables, Prometheus metrics."
          },
          "paths": {
            "/": {
              "get": {
                "summary": "The live dashboard (HTML; its scripts and styles under /dashboard/ and /vendor/)",
                "responses": { "200": { "description": "The page", "content": { "text/html": { "schema": { "type": "string" } } } } }
              }
            },
            "/health": {
              "get": {
                "summary": "Liveness",
                "responses": { "200": { "description": "ok", "content": { "text/plain": { "schema": { "type": "string" } } } } }
              }
            },
            "/v1/topics": {
              "get": {
                "summary": "Every topic with its partitions' start and end offsets",
                "responses": {
                  "200": {
                    "description": "The topics",
                    "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Topic" } } } }
                  }
                }
              }
            },
            "/v1/stream/{topic}": {
              "get": {
                "summary": "A topic as Server-Sent Events: replayed from an offset, then live",
                "parameters": [
                  { "name": "topic", "in": "path", "required": true, "schema": { "type": "string" } },
                  { "name": "from", "in": "query", "required": false, "description": "earliest, latest (default) or an offset (each partition starts there, or at its own start or end)", "schema": { "type": "string" } },
                  { "name": "partition", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }
                ],
                "responses": {
                  "200": { "description": "Events `record` (JSON data), then possibly `dropped` (the client read too slowly) or `error`", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                  "400": { "description": "A bad `from` or `partition`", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } },
                  "404": { "description": "No such topic", "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }
                }
              }
            },
            "/query/sql": {
              "post": {
                "summary": "SQL over the live tables, answered in the shape of Pinot's broker response",
                "requestBody": {
                  "required": true,
                  "content": { "application/json": { "schema": { "type": "object", "required": ["sql"], "properties": { "sql": { "type": "string" } } } } }
                },
                "responses": {
                  "200": {
                    "description": "The result, or Pinot's exceptions (150 parse error, 190 unknown table, 200 execution error, 700 bad request)",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BrokerResponse" } } }
                  }
                }
              }
            },
            "/metrics": {
              "get": {
                "summary": "Prometheus text: end offsets, HTTP requests, streams, and the Kafka listener's counters",
                "responses": { "200": { "description": "Prometheus exposition format 0.0.4", "content": { "text/plain": { "schema": { "type": "string" } } } } }
              }
            },
            "/openapi.json": {
              "get": {
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } }
              }
            }
          },
          "components": {
            "schemas": {
              "Topic": {
                "type": "object",
                "required": ["name", "partitions"],
                "properties": {
                  "name": { "type": "string" },
                  "partitions": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": ["partition", "start", "end"],
                      "properties": { "partition": { "type": "integer" }, "start": { "type": "integer" }, "end": { "type": "integer" } }
                    }
                  }
                }
              },
              "HAL": {
                "type": "object",
                "properties": { "_links": { "type": "object" }, "_embedded": { "type": "object" } }
              },
              "Problem": {
                "type": "object",
                "required": ["status", "title", "detail"],
                "properties": { "status": { "type": "integer" }, "title": { "type": "string" }, "detail": { "type": "string" } }
              },
              "BrokerResponse": {
                "type": "object",
                "required": ["exceptions"],
                "properties": {
                  "resultTable": {
                    "type": ["object", "null"],
                    "properties": {
                      "dataSchema": {
                        "type": "object",
                        "properties": {
                          "columnNames": { "type": "array", "items": { "type": "string" } },
                          "columnDataTypes": { "type": "array", "items": { "type": "string" } }
                        }
                      },
                      "rows": { "type": "array", "items": { "type": "array" } }
                    }
                  },
                  "exceptions": {
                    "type": "array",
                    "items": { "type": "object", "properties": { "errorCode": { "type": "integer" }, "message": { "type": "string" } } }
                  },
                  "numDocsScanned": { "type": "integer" },
                  "totalDocs": { "type": "integer" },
                  "timeUsedMs": { "type": "integer" }
                }
              }
            }
          }
        }
        """#
}
