package import SluiceSupport

/// One record as transform processors see it: Firehose's Lambda record plus the Kinesis metadata.
package struct ProcessorRecord: Sendable, Equatable {
    /// Unique within a batch; a processor must answer each id exactly once.
    package var recordID: String
    package var data: [UInt8]
    /// When the record arrived in the stream.
    package var approximateArrival: Timestamp
    package var sourceStream: String
    package var shardID: String
    /// The Kinesis sequence number as a decimal string. Kept as the number until a processor asks
    /// for its text (most never do, and the 39-digit conversion is not free).
    package var sequenceNumber: String {
        get {
            switch sequence {
            case .text(let text): return text
            case .number(let value): return String(value)
            }
        }
        set { sequence = .text(newValue) }
    }
    private var sequence: Sequence
    /// Position of a user record inside a KPL aggregated record (0 for plain records).
    package var subsequenceNumber: Int
    /// The stream record's partition key.
    package var partitionKey: String
    /// Keys set by earlier processors, for `!{partitionKeyFromQuery:…}` / `!{partitionKeyFromLambda:…}`.
    package var partitionKeys: [String: String]

    package init(
        recordID: String, data: [UInt8], approximateArrival: Timestamp, sourceStream: String, shardID: String,
        sequenceNumber: String, subsequenceNumber: Int = 0, partitionKey: String, partitionKeys: [String: String] = [:]
    ) {
        self.recordID = recordID
        self.data = data
        self.approximateArrival = approximateArrival
        self.sourceStream = sourceStream
        self.shardID = shardID
        self.sequence = .text(sequenceNumber)
        self.subsequenceNumber = subsequenceNumber
        self.partitionKey = partitionKey
        self.partitionKeys = partitionKeys
    }

    /// A record whose sequence number is given as the number (its text is made on first use).
    package init(
        recordID: String, data: [UInt8], approximateArrival: Timestamp, sourceStream: String, shardID: String,
        sequenceNumberValue: UInt128, subsequenceNumber: Int = 0, partitionKey: String, partitionKeys: [String: String] = [:]
    ) {
        self.init(
            recordID: recordID, data: data, approximateArrival: approximateArrival, sourceStream: sourceStream, shardID: shardID,
            sequenceNumber: "", subsequenceNumber: subsequenceNumber, partitionKey: partitionKey, partitionKeys: partitionKeys)
        self.sequence = .number(sequenceNumberValue)
    }

    private enum Sequence: Sendable {
        case text(String)
        case number(UInt128)
    }

    /// Equal when every field is, the sequence number compared as text.
    package static func == (lhs: ProcessorRecord, rhs: ProcessorRecord) -> Bool {
        lhs.recordID == rhs.recordID && lhs.data == rhs.data && lhs.approximateArrival == rhs.approximateArrival
            && lhs.sourceStream == rhs.sourceStream && lhs.shardID == rhs.shardID && lhs.sequenceNumber == rhs.sequenceNumber
            && lhs.subsequenceNumber == rhs.subsequenceNumber && lhs.partitionKey == rhs.partitionKey
            && lhs.partitionKeys == rhs.partitionKeys
    }
}

/// What a processor decided for one record (Firehose's `result`).
package enum ProcessorVerdict: Sendable, Equatable {
    /// Keep the record with (possibly new) data; `partitionKeys` are added to the record's keys.
    case ok(data: [UInt8], partitionKeys: [String: String])
    /// The record is intentionally removed; it is counted, not delivered.
    case dropped
    /// The record goes to error output as `processing-failed` with this code and message.
    case processingFailed(code: String, message: String)
    /// The record is several records (KPL de-aggregation): each continues through the chain.
    case split([(data: [UInt8], partitionKey: String)])

    package static func == (lhs: ProcessorVerdict, rhs: ProcessorVerdict) -> Bool {
        switch (lhs, rhs) {
        case (.ok(let a, let k), .ok(let b, let l)): a == b && k == l
        case (.dropped, .dropped): true
        case (.processingFailed(let a, let m), .processingFailed(let b, let n)): a == b && m == n
        case (.split(let a), .split(let b)): a.map(\.data) == b.map(\.data) && a.map(\.partitionKey) == b.map(\.partitionKey)
        default: false
        }
    }
}

/// A verdict for one record id.
package struct ProcessorResult: Sendable, Equatable {
    package var recordID: String
    package var verdict: ProcessorVerdict

    package init(recordID: String, verdict: ProcessorVerdict) {
        self.recordID = recordID
        self.verdict = verdict
    }
}

/// A failure of a whole batch (an external processor crashed, hung, or answered garbage): every
/// record of the batch goes to error output as `processing-failed` with this code and message.
package struct ProcessorFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Firehose's codes where they exist: `Lambda.MissingRecordId`, `Lambda.DuplicatedRecordId`,
    /// `Lambda.JsonProcessingException`, `Lambda.FunctionError`, …
    package var code: String
    package var message: String

    package init(code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code): \(message)" }
}

/// A transform plugin. Firehose's contract: every input record comes back exactly once with a
/// verdict, so a processor can move between Sluice and a Firehose Lambda.
///
/// Built-in processors are pure functions of each record (the same input gives the same
/// output), which is what lets the pipeline rebuild a batch after a crash byte for byte. An
/// external processor (`exec`) may not be; see the README.
package protocol RecordProcessor: Sendable {
    /// Verdicts for a batch, one per input record id in any order. A missing or repeated id is
    /// the processor's error (`Lambda.MissingRecordId` / `Lambda.DuplicatedRecordId`), checked by
    /// `ProcessorChain`.
    ///
    /// - Throws: `ProcessorFailure` when the whole batch failed.
    func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult]

    /// Whether a verdict may be `.split` (several outputs for one record). The pipeline relies on
    /// `false`: a record then has exactly one output, so after a restart a journaled output means
    /// the whole record was delivered. Default true (the safe answer); processors that never split
    /// say false.
    var maySplit: Bool { get }

    /// Whether the verdict for a record depends on that record alone (no state, no outside
    /// process, no order): then the pipeline may run parts of a batch on several threads at once.
    /// Default false; the built-in processors other than `exec` say true.
    var isPure: Bool { get }
}

extension RecordProcessor {
    package var maySplit: Bool { true }
    package var isPure: Bool { false }
}

/// What a processor may need from the pipeline that runs it (external processors use it for
/// Firehose's event fields and for logging).
package struct ProcessorEnvironment: Sendable {
    package var pipelineName: String
    /// `arn:aws:firehose:<region>:<account>:deliverystream/<pipeline>`.
    package var deliveryStreamARN: String
    package var region: String
    package var logger: Logger

    package init(pipelineName: String, deliveryStreamARN: String, region: String, logger: Logger) {
        self.pipelineName = pipelineName
        self.deliveryStreamARN = deliveryStreamARN
        self.region = region
        self.logger = logger
    }

    /// For validation, where nothing runs.
    package static func validation(pipelineName: String) -> ProcessorEnvironment {
        ProcessorEnvironment(
            pipelineName: pipelineName, deliveryStreamARN: "arn:aws:firehose:us-east-1:000000000000:deliverystream/\(pipelineName)",
            region: "us-east-1", logger: .disabled)
    }
}

/// How a processor type is built from a pipeline file's `{"type", "parameters"}`.
package struct ProcessorType: Sendable {
    package var name: String
    /// One line for `sluice validate` and the README: what it does.
    package var summary: String
    /// Parameter names it accepts (others are errors with a suggestion).
    package var parameters: [String]
    /// Builds the processor; throws a message naming the parameter, the rule and the fix.
    package var build: @Sendable (_ parameters: [String: String], _ environment: ProcessorEnvironment) throws(ProcessorConfigurationError) -> any RecordProcessor

    /// Builds the processor for a pipeline.
    package func make(_ parameters: [String: String], _ environment: ProcessorEnvironment) throws(ProcessorConfigurationError) -> any RecordProcessor {
        try build(parameters, environment)
    }

    /// Builds the processor outside any pipeline (validation and tests).
    package func make(_ parameters: [String: String]) throws(ProcessorConfigurationError) -> any RecordProcessor {
        try build(parameters, .validation(pipelineName: "validation"))
    }

    package init(
        name: String, summary: String, parameters: [String],
        make: @escaping @Sendable (_ parameters: [String: String]) throws(ProcessorConfigurationError) -> any RecordProcessor
    ) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.build = { (parameters, _) throws(ProcessorConfigurationError) in try make(parameters) }
    }

    /// A type whose processors need the pipeline's environment.
    package init(
        name: String, summary: String, parameters: [String],
        makeInEnvironment: @escaping @Sendable (_ parameters: [String: String], _ environment: ProcessorEnvironment) throws(ProcessorConfigurationError) -> any RecordProcessor
    ) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.build = makeInEnvironment
    }
}

/// A processor's parameters are wrong: which one, and why.
package struct ProcessorConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The parameter's name, or nil when the problem is not one parameter.
    package var parameter: String?
    package var message: String

    package init(parameter: String?, _ message: String) {
        self.parameter = parameter
        self.message = message
    }

    package var description: String { message }
}
