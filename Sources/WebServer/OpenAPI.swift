/// The OpenAPI 3.1 description of the HTTP API, served at `GET /openapi.json` (written by hand: five routes;
/// a test checks that every path it lists is served).
enum OpenAPIDocument {
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "EventLog HTTP API",
            "version": "1.0.0",
            "description": "The embedded log over HTTP: topics, live event streams, Pinot-compatible SQL over live tables, Prometheus metrics."
          },
          "paths": {
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
