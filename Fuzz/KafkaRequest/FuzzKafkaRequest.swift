// libFuzzer target: arbitrary bytes as one Kafka request frame (without its size prefix) handed to the
// broker over a real log with a topic and a few records. Any input must give an answer, no answer or a
// protocol error that closes the connection — never a trap — and what the log held must stay readable.
//
// Build and run: bash scripts/fuzz.sh kafka-request [seconds]
import EventLog
import Foundation
import FuzzSupport
import KafkaServer

@_cdecl("FuzzKafkaRequest_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

let directory = FileManager.default.temporaryDirectory.path + "/fuzz-kafka-\(getpid())"
let log: Log = {
    try? FileManager.default.removeItem(atPath: directory)
    let log = try! Log(directory: directory)
    try! log.createTopic("t", configuration: TopicConfiguration(partitions: 2))
    try! log.append((0..<10).map { ProducerRecord(key: "k\($0)", value: "v\($0)") }, to: "t", partition: 0)
    return log
}()
let fuzzer = KafkaRequestFuzzer(log: log)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    // CreateTopics (19) and DeleteTopics (20) are left out: they would change the fixture itself (or create
    // thousands of directories per input).
    if count >= 2 && data[0] == 0 && (data[1] == 19 || data[1] == 20) { return 0 }
    fuzzer.handle(Array(UnsafeBufferPointer(start: data, count: count)))
    // What was stored before stays readable.
    let records = try! log.read(topic: "t", partition: 0, from: 0, maxRecords: 10)
    precondition(records.count == 10 && records[9].value == Array("v9".utf8), "the fuzzed request damaged the log")
    return 0
}
