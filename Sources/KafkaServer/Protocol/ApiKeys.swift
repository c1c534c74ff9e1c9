/// The Kafka APIs this server speaks, with the versions it advertises.
///
/// Ranges start at 0 because librdkafka's feature checks demand it (it silently disables gzip, snappy and
/// lz4 unless Produce's range includes 0); Produce below 3 and Fetch below 4 (message formats v0/v1) are
/// advertised but refused by closing the connection, as Kafka 4 does. Maxima stop before each API's first
/// flexible version, except ApiVersions (v3 is what librdkafka sends first), so only ApiVersions needs the
/// compact encodings. See ``../shared/reference/kafka-protocol.md`` for where each choice comes from.
enum ApiKey: Int16, CaseIterable, Sendable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case initProducerId = 22

    /// The advertised versions.
    var versions: ClosedRange<Int16> {
        switch self {
        case .produce: 0...8
        case .fetch: 0...11
        case .listOffsets: 0...5
        case .metadata: 0...8
        case .offsetCommit: 0...7
        case .offsetFetch: 0...5
        case .findCoordinator: 0...2
        case .joinGroup: 0...5
        case .heartbeat: 0...3
        case .leaveGroup: 0...3
        case .syncGroup: 0...3
        case .describeGroups: 0...4
        case .listGroups: 0...2
        case .apiVersions: 0...3
        case .createTopics: 0...4
        case .deleteTopics: 0...3
        case .initProducerId: 0...1
        }
    }

    /// The versions actually served; others in ``versions`` close the connection.
    var servedVersions: ClosedRange<Int16> {
        switch self {
        case .produce: 3...8
        case .fetch: 4...11
        default: versions
        }
    }

    /// Whether `version` uses the flexible encodings (request header v2, compact types, tagged fields).
    func isFlexible(_ version: Int16) -> Bool { self == .apiVersions && version >= 3 }
}

/// Kafka's error codes used here (`org.apache.kafka.common.protocol.Errors`).
enum KafkaError: Int16, Sendable {
    case none = 0
    case offsetOutOfRange = 1
    case corruptMessage = 2
    case unknownTopicOrPartition = 3
    case messageTooLarge = 10
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case invalidTopic = 17
    case invalidRequiredAcks = 21
    case illegalGeneration = 22
    case inconsistentGroupProtocol = 23
    case invalidGroupId = 24
    case unknownMemberId = 25
    case invalidSessionTimeout = 26
    case rebalanceInProgress = 27
    case unsupportedVersion = 35
    case topicAlreadyExists = 36
    case invalidPartitions = 37
    case invalidRequest = 42
    case outOfOrderSequence = 45
    case duplicateSequence = 46
    case invalidProducerEpoch = 47
    case kafkaStorageError = 56
    case groupIdNotFound = 69
    case nonEmptyGroup = 68
    case unsupportedCompressionType = 76
    case memberIdRequired = 79
    case invalidRecord = 87
    case unknownServerError = -1
}
