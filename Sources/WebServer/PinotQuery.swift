import EventLogFoundation
import Foundation
public import LiveViews

/// Pinot's broker API over the live views: `POST /query/sql` with `{"sql": "…"}` answers in the shape of
/// Pinot's broker response, so tools written for Pinot (its clients, Superset's Pinot driver) read it.
///
/// Failures are answered as Pinot's broker does — HTTP 200 with an `exceptions` entry (`errorCode`,
/// `message`) — never a 500: 150 for a parse error (the message names line and column), 190 for an unknown
/// table, 200 for an error while executing.
public enum PinotQuery {
    /// Pinot's error codes.
    public enum ErrorCode: Int, Sendable {
        case sqlParsing = 150
        case tableDoesNotExist = 190
        case queryExecution = 200
        case badRequest = 700
    }

    /// Pinot's column type of a result column: from its first non-null value (`STRING` when all are null;
    /// points and geometries are answered as well-known text, so `STRING`).
    static func columnType(_ rows: [[SQLValue]], _ column: Int) -> String {
        func type(_ value: SQLValue) -> String? {
            switch value {
            case .null: return nil
            case .bool: return "BOOLEAN"
            case .long: return "LONG"
            case .double: return "DOUBLE"
            case .string, .point, .geometry: return "STRING"
            case .array(let values): return values.lazy.compactMap(type).first.map { $0 + "_ARRAY" } ?? "STRING_ARRAY"
            }
        }
        return rows.lazy.compactMap { type($0[column]) }.first ?? "STRING"
    }

    /// The broker response for a result.
    static func response(_ result: QueryResult, totalDocs: Int, milliseconds: Int) -> String {
        var json = JSONText()
        json.raw("{\"resultTable\":{\"dataSchema\":{\"columnNames\":[")
        for (i, name) in result.columns.enumerated() {
            if i > 0 { json.raw(",") }
            json.string(name)
        }
        json.raw("],\"columnDataTypes\":[")
        for i in result.columns.indices {
            if i > 0 { json.raw(",") }
            json.string(columnType(result.rows, i))
        }
        json.raw("]},\"rows\":[")
        for (r, row) in result.rows.enumerated() {
            if r > 0 { json.raw(",") }
            json.raw("[")
            for (c, value) in row.enumerated() {
                if c > 0 { json.raw(",") }
                json.value(value)
            }
            json.raw("]")
        }
        json.raw("]},\"exceptions\":[]")
        json.raw(",\"numServersQueried\":1,\"numServersResponded\":1,\"numSegmentsQueried\":1")
        json.raw(",\"numSegmentsProcessed\":1,\"numSegmentsMatched\":\(result.stats.documentsMatched > 0 ? 1 : 0)")
        json.raw(",\"numDocsScanned\":\(result.stats.documentsScanned)")
        json.raw(",\"numEntriesScannedInFilter\":0,\"numEntriesScannedPostFilter\":0")
        json.raw(",\"totalDocs\":\(totalDocs),\"timeUsedMs\":\(milliseconds),\"numGroupsLimitReached\":false}")
        return json.text
    }

    /// A response holding one exception.
    static func failure(_ code: ErrorCode, _ message: String, milliseconds: Int = 0) -> String {
        var json = JSONText()
        json.raw("{\"resultTable\":null,\"exceptions\":[{\"errorCode\":\(code.rawValue),\"message\":")
        json.string(message)
        json.raw("}],\"numServersQueried\":1,\"numServersResponded\":1,\"numDocsScanned\":0,\"totalDocs\":0")
        json.raw(",\"timeUsedMs\":\(milliseconds)}")
        return json.text
    }

    /// Answers the body of a `POST /query/sql` against `catalog` (tables caught up to the log's end first).
    public static func answer(body: [UInt8], catalog: ViewCatalog) -> String {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Int { Int((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let sql = object["sql"] as? String
        else {
            return failure(
                .badRequest, "the body must be a JSON object with a string \"sql\", e.g. {\"sql\": \"SELECT 1\"}")
        }
        do {
            let result = try catalog.query(sql)
            return response(result, totalDocs: result.stats.totalDocuments, milliseconds: elapsed())
        } catch let error as ViewError {
            let code: ErrorCode =
                switch error.code {
                case .syntax: .sqlParsing
                case .noSuchTable: .tableDoesNotExist
                default: .queryExecution
                }
            let position = error.line.map { line in " at line \(line), column \(error.column ?? 0)" } ?? ""
            let prefix =
                code == .sqlParsing
                ? "SQLParsingError:\n"
                : code == .tableDoesNotExist ? "TableDoesNotExistError:\n" : "QueryExecutionError:\n"
            return failure(code, prefix + error.message + position, milliseconds: elapsed())
        } catch {
            return failure(.queryExecution, "QueryExecutionError:\n\(error)", milliseconds: elapsed())
        }
    }
}
