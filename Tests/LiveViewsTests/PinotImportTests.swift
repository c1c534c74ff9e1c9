import Foundation
import LiveViews
import Testing

/// Pinot's own schema and table config (written here in the shape Pinot documents, as the original
/// order-delivery system's `pinot/*.json` were), imported as a table definition.
@Suite("Pinot schema and table-config import")
struct PinotImportTests {
    static let schema = #"""
        {
          "schemaName": "orders",
          "primaryKeyColumns": ["orderId"],
          "dimensionFieldSpecs": [
            {"name": "orderId", "dataType": "STRING"},
            {"name": "orderStatus", "dataType": "STRING"},
            {"name": "restaurantCity", "dataType": "STRING"},
            {"name": "accountId", "dataType": "STRING"},
            {"name": "orderLocationLat", "dataType": "DOUBLE"},
            {"name": "orderLocationLon", "dataType": "DOUBLE"},
            {"name": "payloadJson", "dataType": "JSON"},
            {"name": "tags", "dataType": "STRING", "singleValueField": false},
            {"name": "location_st_point", "dataType": "BYTES"}
          ],
          "metricFieldSpecs": [{"name": "items", "dataType": "INT"}],
          "dateTimeFieldSpecs": [
            {"name": "lastModified", "dataType": "LONG", "format": "1:MILLISECONDS:EPOCH", "granularity": "1:MILLISECONDS"}
          ]
        }
        """#

    static let table = #"""
        {
          "tableName": "orders_REALTIME",
          "tableType": "REALTIME",
          "segmentsConfig": {"timeColumnName": "lastModified", "replicasPerPartition": "1"},
          "tenants": {},
          "tableIndexConfig": {
            "loadMode": "MMAP",
            "invertedIndexColumns": ["orderStatus"],
            "streamConfigs": {
              "streamType": "kafka",
              "stream.kafka.topic.name": "orders",
              "stream.kafka.decoder.class.name": "org.apache.pinot.plugin.stream.kafka.KafkaJSONMessageDecoder"
            }
          },
          "fieldConfigList": [
            {"name": "location_st_point", "encodingType": "RAW", "indexType": "H3", "properties": {"resolutions": "5"}}
          ],
          "ingestionConfig": {
            "transformConfigs": [
              {"columnName": "accountId", "transformFunction": "JSONPATHSTRING(payload, '$.accountId')"},
              {"columnName": "items", "transformFunction": "JSONPATHLONG(payload,'$.basket.items')"},
              {"columnName": "payloadJson", "transformFunction": "json_format(payload)"},
              {"columnName": "location_st_point", "transformFunction": "toSphericalGeography(stPoint(orderLocationLon, orderLocationLat))"}
            ]
          },
          "upsertConfig": {"mode": "FULL", "comparisonColumn": "lastModified", "enableSnapshot": true},
          "routing": {"instanceSelectorType": "strictReplicaGroup"}
        }
        """#

    @Test("columns, transforms, upsert and indexes are carried over; the rest is listed as ignored")
    func importsAndAnswers() throws {
        let imported = try PinotImport(schema: Data(Self.schema.utf8), table: Data(Self.table.utf8))
        let config = imported.config
        #expect(config.name == "orders" && config.topic == "orders")
        let byName = Dictionary(uniqueKeysWithValues: config.columns.map { ($0.name, $0) })
        #expect(byName["accountId"]?.path == "payload.accountId" && byName["accountId"]?.type == .string)
        #expect(byName["items"]?.path == "payload.basket.items" && byName["items"]?.type == .long)
        #expect(byName["location_st_point"]?.type == .point)
        #expect(byName["tags"]?.multiValue == true)
        #expect(byName["lastModified"]?.type == .long)
        #expect(config.upsert?.primaryKey == ["orderId"] && config.upsert?.comparisonColumn == "lastModified")
        #expect(config.invertedIndexColumns == ["orderStatus"])
        let ignored = imported.ignored.joined(separator: "\n")
        for fragment in [
            "H3 index", "json_format", "segmentsConfig", "upsertConfig.enableSnapshot", "routing",
            "tableIndexConfig.loadMode",
        ] {
            #expect(ignored.contains(fragment), "\(fragment) not reported: \(ignored)")
        }

        // The imported table answers over the simulator's event shape.
        let table = try LiveTable(config: config)
        for (i, (id, status, lat)) in [
            ("o1", "ORDER_PREPARED", 37.775), ("o2", "ORDER_CREATED", 37.70), ("o1", "ORDER_DELIVERED", 37.776),
        ]
        .enumerated() {
            table.ingest(
                json:
                    #"{"orderId":"\#(id)","orderStatus":"\#(status)","restaurantCity":"San Francisco","orderLocationLat":\#(lat),"orderLocationLon":-122.42,"lastModified":\#(i + 1),"payload":{"accountId":"acct-\#(id)","basket":{"items":\#(i + 2)}}}"#
            )
        }
        let rows = try table.query(
            "SELECT orderId, orderStatus, accountId, items FROM orders WHERE ST_DISTANCE(location_st_point, ST_Point(-122.42, 37.775, 1)) < 1000 ORDER BY orderId"
        ).rows
        #expect(rows == [[.string("o1"), .string("ORDER_DELIVERED"), .string("acct-o1"), .long(4)]])
    }

    @Test("malformed Pinot files are errors that say what is wrong")
    func malformed() {
        #expect(throws: ViewError.self) { try PinotImport(schema: Data("[]".utf8), table: Data("{}".utf8)) }
        #expect(throws: ViewError.self) {
            try PinotImport(
                schema: Data(#"{"schemaName":"x","dimensionFieldSpecs":[{"name":"a"}]}"#.utf8), table: Data("{}".utf8))
        }
        do {
            _ = try PinotImport(
                schema: Data(#"{"schemaName":"x","dimensionFieldSpecs":[{"name":"a","dataType":"STRING"}]}"#.utf8),
                table: Data(#"{"upsertConfig":{"mode":"FULL"}}"#.utf8))
            Issue.record("an upsert without primary key columns was accepted")
        } catch {
            #expect(error.message.contains("primaryKeyColumns"))
        }
    }
}
