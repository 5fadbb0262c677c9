import Foundation
import SluiceSupport
import Synchronization

/// `exec`: runs an external command that speaks Firehose's Lambda data-transformation JSON, so a
/// Firehose transformation Lambda runs under Sluice unchanged (through a small wrapper such as
/// `Pipelines/plugins/sluice_exec.py`).
///
/// The command reads an event `{"invocationId", "deliveryStreamArn", "sourceKinesisStreamArn",
/// "region", "records": [{"recordId", "approximateArrivalTimestamp", "data" (base64),
/// "kinesisRecordMetadata": {…}}]}` and answers `{"records": [{"recordId", "result": "Ok" |
/// "Dropped" | "ProcessingFailed", "data" (base64), "metadata": {"partitionKeys": {…}}}]}`.
///
/// Parameters (all strings):
/// - `command` (required): the program and its arguments, split like a shell word list (blanks
///   separate words; `'…'` is literal; `"…"` allows `\"`, `\\`, `\$` and `` \` ``; a backslash
///   outside quotes escapes the next character). No shell runs it: no variables, globs or pipes
///   (write `sh -c "…"` for those). The program is looked up in `PATH`; a relative path is
///   resolved against the working directory of `sluice serve`.
/// - `mode` (default `batch`): `batch` starts one process per invocation (event on standard input,
///   which is then closed; response on standard output; the process must exit 0). `persistent`
///   starts one long-lived process on first use and writes one event per line to it; it answers
///   one response per line. The process is restarted after any failure, and when it is found
///   to have exited between batches.
/// - `timeoutInSeconds` (default 60): the most one invocation may take, in 0.1...300 (Lambda's
///   limit is 300 s). Fractions are allowed (`"0.5"`) so tests can be quick. On expiry the process
///   (its whole process group) is killed with SIGKILL.
/// - `maximumBatchRecords` (default 500, 1...10000) and `maximumBatchBytes` (default 1048576,
///   1...6291456 = 6 MiB, Lambda's request limit), the size of the event JSON with base64 data:
///   a larger batch is split into several invocations. A single record larger than the limit is
///   sent alone.
/// - `processes` (default 1, 1...16): how many invocations of one batch run at once, like
///   Lambda's concurrent invocations. In persistent mode this many long-lived processes run, and
///   the invocations of a split batch are handed to them in turn (invocation `i` to process
///   `i % processes`); in batch mode at most this many processes run at once. The verdicts keep
///   the records' order either way; a failure of any invocation fails the batch.
///
/// A response may be at most 6 MiB (`maximumResponseBytes`, Lambda's limit). Standard error is
/// drained all the time and logged at warning level, one event per line, at most 64 KiB per
/// invocation (the last 64 KiB; a note says how much was dropped).
///
/// Whole-batch failures, thrown as `ProcessorFailure` (the pipeline retries the batch for
/// `retry.durationInSeconds`, then sends its records to error output as `processing-failed`;
/// this processor never retries or sleeps itself). Every message names the command and ends
/// with the last lines of its standard error:
/// - `Exec.SpawnFailed`: the command cannot be started (not found, not executable).
/// - `Lambda.FunctionError`: it exited non-zero, was killed by a signal, or (persistent) closed
///   its output or input before answering; also a failed `read`/`write`/`waitpid` on it.
/// - `Lambda.FunctionTimeout`: no complete answer within `timeoutInSeconds`.
/// - `Lambda.ResponseSizeTooLarge`: the response exceeds 6 MiB. (Firehose reports this case as
///   `Lambda.MissingRecordId`; Sluice names the cause.)
/// - `Lambda.JsonProcessingException`: the response is not JSON, has no `records` array, a
///   record lacks `recordId`, `result` or `data`, has an unknown `result`, data that is not
///   base64, or partition keys that are not strings; or (persistent) more than one line came.
/// - `Lambda.MissingRecordId` / `Lambda.DuplicatedRecordId`: an id is missing, unknown or
///   answered twice.
///
/// Per-record verdicts: `Ok` → `.ok(data:partitionKeys:)`, `Dropped` → `.dropped`,
/// `ProcessingFailed` → `.processingFailed` with Firehose's `Lambda.ProcessingFailedStatus`
/// (never retried).
///
/// Thread-safe (`Sendable`): batch mode keeps no state; each persistent process sits behind a
/// `Mutex`, so concurrent callers take turns. Blocking: each call waits for the command (at most
/// `timeoutInSeconds` per invocation). An external command need not be deterministic, which
/// makes delivery at-least-once; see the README.
package final class ExecProcessor: RecordProcessor {
    /// The registry entry. `make` only checks parameters; no process starts until the first batch.
    package static let processorType = ProcessorType(
        name: "exec",
        summary: "Runs `command` (a Firehose Lambda-style transformation speaking the Lambda event/response JSON "
            + "on stdin/stdout), one process per batch or `mode` persistent (one JSON line per batch); "
            + "`timeoutInSeconds` (default 60), `maximumBatchRecords` (500), `maximumBatchBytes` (1 MiB), "
            + "`processes` (invocations at once, default 1).",
        parameters: ["command", "mode", "timeoutInSeconds", "maximumBatchRecords", "maximumBatchBytes", "processes"],
        makeInEnvironment: { parameters, environment throws(ProcessorConfigurationError) in
            try ExecProcessor(parameters: parameters, environment: environment)
        })

    // MARK: - Configuration

    /// How the command is run.
    package enum Mode: String, Sendable, Equatable {
        /// One process per invocation.
        case batch
        /// One long-lived process; one event and one response per line.
        case persistent
    }

    /// The checked parameters.
    package struct Configuration: Sendable, Equatable {
        /// The command as written in the pipeline file.
        package var command: String
        /// `command` split into words.
        package var arguments: [String]
        package var mode: Mode
        package var timeoutInSeconds: Double
        package var maximumBatchRecords: Int
        package var maximumBatchBytes: Int
        /// Invocations of one batch at once (persistent mode: long-lived processes).
        package var processes: Int

        package init(
            command: String, mode: Mode = .batch, timeoutInSeconds: Double = ExecProcessor.defaultTimeoutInSeconds,
            maximumBatchRecords: Int = ExecProcessor.defaultMaximumBatchRecords,
            maximumBatchBytes: Int = ExecProcessor.defaultMaximumBatchBytes, processes: Int = 1
        ) throws(ProcessorConfigurationError) {
            self.command = command
            self.arguments = try ExecProcessor.splitCommand(command)
            self.mode = mode
            self.timeoutInSeconds = timeoutInSeconds
            self.maximumBatchRecords = maximumBatchRecords
            self.maximumBatchBytes = maximumBatchBytes
            self.processes = processes
        }
    }

    package static let defaultTimeoutInSeconds = 60.0
    package static let timeoutRange = 0.1...300.0
    package static let defaultMaximumBatchRecords = 500
    package static let maximumBatchRecordsRange = 1...10_000
    package static let defaultMaximumBatchBytes = 1 << 20
    package static let maximumBatchBytesRange = 1...6_291_456
    package static let processesRange = 1...16
    /// Lambda's synchronous response limit: 6 MiB.
    package static let maximumResponseBytes = 6_291_456
    /// The most standard error kept and logged per invocation: 64 KiB.
    package static let standardErrorLimit = 64 << 10

    // MARK: - Failure codes

    package static let spawnFailedCode = "Exec.SpawnFailed"
    package static let functionErrorCode = "Lambda.FunctionError"
    package static let functionTimeoutCode = "Lambda.FunctionTimeout"
    package static let responseTooLargeCode = "Lambda.ResponseSizeTooLarge"
    package static let jsonProcessingCode = "Lambda.JsonProcessingException"
    package static let missingRecordIDCode = "Lambda.MissingRecordId"
    package static let duplicatedRecordIDCode = "Lambda.DuplicatedRecordId"
    /// The code and message Firehose gives a record the function marked `ProcessingFailed`.
    package static let processingFailedStatusCode = "Lambda.ProcessingFailedStatus"
    package static let processingFailedStatusMessage = "ProcessingFailed status set for record"

    // MARK: - State

    package let configuration: Configuration
    private let environment: ProcessorEnvironment
    private let logger: Logger
    /// `arn:aws:kinesis:<region>:<account>:stream/`, the source stream ARN without the name.
    private let sourceStreamARNPrefix: String
    /// The persistent-mode processes (`processes` of them), each started on first use; nil after
    /// a failure.
    private let persistent: [ProcessSlot]

    /// Builds the processor from a pipeline file's parameters. Starts nothing.
    ///
    /// - Throws: `ProcessorConfigurationError` naming the parameter, the rule and a valid example.
    package convenience init(parameters: [String: String], environment: ProcessorEnvironment)
        throws(ProcessorConfigurationError)
    {
        try self.init(configuration: Self.configuration(parameters), environment: environment)
    }

    /// Builds the processor. Starts nothing.
    package init(configuration: Configuration, environment: ProcessorEnvironment) {
        self.configuration = configuration
        self.environment = environment
        self.persistent = (0..<max(1, configuration.processes)).map { _ in ProcessSlot() }
        self.logger = environment.logger.with("processor", "exec")
        let parts = environment.deliveryStreamARN.split(separator: ":", omittingEmptySubsequences: false)
        let account = parts.count > 4 ? String(parts[4]) : "000000000000"
        self.sourceStreamARNPrefix = "arn:aws:kinesis:\(environment.region):\(account):stream/"
    }

    deinit {
        for process in persistent {
            process.slot.withLock { slot in
                slot?.terminate(grace: 1)
                slot = nil
            }
        }
    }

    /// The first persistent process's id, if one is running (for tests and status).
    package var persistentProcessID: Int32? {
        persistent[0].slot.withLock { $0?.processID }
    }

    /// The ids of the running persistent processes.
    package var persistentProcessIDs: [Int32] {
        persistent.compactMap { process in process.slot.withLock { $0?.processID } }
    }

    // MARK: - Parameters

    private static func configuration(_ parameters: [String: String]) throws(ProcessorConfigurationError)
        -> Configuration
    {
        guard let command = parameters["command"], !command.allSatisfy(\.isWhitespace) else {
            throw ProcessorConfigurationError(
                parameter: "command",
                "exec needs the parameter command: the program to run and its arguments, for example "
                    + "\"python3 Pipelines/plugins/sluice_exec.py Pipelines/plugins/firehose_handler.py:lambda_handler\"; "
                    + "add it to the processor's parameters")
        }
        var mode = Mode.batch
        if let text = parameters["mode"] {
            guard let value = Mode(rawValue: text) else {
                throw ProcessorConfigurationError(
                    parameter: "mode",
                    "the parameter mode is \"\(text)\"; use \"batch\" (one process per batch: event on standard input, "
                        + "response on standard output) or \"persistent\" (one long-lived process, one JSON line per batch)"
                )
            }
            mode = value
        }
        var timeout = defaultTimeoutInSeconds
        if let text = parameters["timeoutInSeconds"] {
            guard let value = decimal(text), timeoutRange.contains(value) else {
                throw ProcessorConfigurationError(
                    parameter: "timeoutInSeconds",
                    "the parameter timeoutInSeconds is \"\(text)\"; use a number of seconds from 0.1 to 300 (Lambda's "
                        + "limit), written in digits with an optional decimal point, for example \"60\" or \"0.5\"")
            }
            timeout = value
        }
        let records = try integer(
            parameters, "maximumBatchRecords", default: defaultMaximumBatchRecords, range: maximumBatchRecordsRange,
            unit: "records", example: "500")
        let bytes = try integer(
            parameters, "maximumBatchBytes", default: defaultMaximumBatchBytes, range: maximumBatchBytesRange,
            unit:
                "bytes (6291456 is 6 MiB, Lambda's request limit; the size counted is the event JSON with base64 data)",
            example: "1048576")
        let processes = try integer(
            parameters, "processes", default: 1, range: processesRange,
            unit: "invocations of a batch at once (in persistent mode, long-lived processes)", example: "2")
        return try Configuration(
            command: command, mode: mode, timeoutInSeconds: timeout, maximumBatchRecords: records,
            maximumBatchBytes: bytes, processes: processes)
    }

    /// `123` or `0.5`: digits with at most one decimal point, no sign or exponent.
    private static func decimal(_ text: String) -> Double? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } })
        else { return nil }
        return Double(text)
    }

    private static func integer(
        _ parameters: [String: String], _ name: String, default value: Int, range: ClosedRange<Int>, unit: String,
        example: String
    ) throws(ProcessorConfigurationError) -> Int {
        guard let text = parameters[name] else { return value }
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let parsed = Int(text),
            range.contains(parsed)
        else {
            throw ProcessorConfigurationError(
                parameter: name,
                "the parameter \(name) is \"\(text)\"; use a whole number from \(range.lowerBound) to \(range.upperBound) "
                    + "\(unit), written in digits, for example \"\(example)\"")
        }
        return parsed
    }

    /// Splits a command like a shell word list, without running a shell.
    ///
    /// Blanks separate words; `'…'` keeps everything literally; inside `"…"` a backslash escapes
    /// only `"`, `\`, `$` and `` ` ``; outside quotes a backslash escapes the next character.
    /// Quoted and unquoted parts of one word join (`--name="a b"` is `--name=a b`).
    ///
    /// - Throws: `ProcessorConfigurationError` naming `command` for an unterminated quote, a
    ///   trailing backslash, or no words at all.
    package static func splitCommand(_ command: String) throws(ProcessorConfigurationError) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        let characters = Array(command)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            if let open = quote {
                if character == open {
                    quote = nil
                } else if open == "\"", character == "\\", index < characters.count,
                    "\"\\$`".contains(characters[index])
                {
                    word.append(characters[index])
                    index += 1
                } else {
                    word.append(character)
                }
            } else if character == " " || character == "\t" || character.isNewline {
                if inWord {
                    words.append(word)
                    word = ""
                    inWord = false
                }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == "\\" {
                guard index < characters.count else {
                    throw ProcessorConfigurationError(
                        parameter: "command",
                        "the parameter command ends with a backslash, which escapes nothing; remove it or write \\\\ "
                            + "for a literal backslash")
                }
                word.append(characters[index])
                index += 1
                inWord = true
            } else {
                word.append(character)
                inWord = true
            }
        }
        if let open = quote {
            throw ProcessorConfigurationError(
                parameter: "command",
                "the parameter command has an unterminated \(open == "'" ? "single" : "double") quote (\(open)); close it "
                    + "(the command is split into words like a shell word list, but no shell runs it)")
        }
        if inWord { words.append(word) }
        guard !words.isEmpty else {
            throw ProcessorConfigurationError(
                parameter: "command", "the parameter command has no words; name the program to run")
        }
        return words
    }

    // MARK: - Processing

    /// One output per record: it never splits.
    package var maySplit: Bool { false }

    package func process(_ batch: [ProcessorRecord]) throws(ProcessorFailure) -> [ProcessorResult] {
        guard !batch.isEmpty else { return [] }
        let fragments = batch.map(Self.fragment)
        let sourceStream = batch[0].sourceStream
        let envelopeSize = envelope(invocationID: UUID().uuidString.lowercased(), sourceStream: sourceStream).count + 3  // "]}\n"
        // The invocations: slices within the record and byte limits.
        var slices: [Range<Int>] = []
        var start = 0
        var size = envelopeSize
        for index in batch.indices {
            let added = fragments[index].count + (index > start ? 1 : 0)
            if index > start,
                index - start == configuration.maximumBatchRecords || size + added > configuration.maximumBatchBytes
            {
                slices.append(start..<index)
                start = index
                size = envelopeSize + fragments[index].count
            } else {
                size += added
            }
        }
        slices.append(start..<batch.count)
        let invocationSlices = slices
        var results: [ProcessorResult] = []
        results.reserveCapacity(batch.count)
        switch configuration.mode {
        case .batch:
            if slices.count == 1 || persistent.count == 1 {
                for slice in slices {
                    results += try invoke(batch[slice], fragments[slice], sourceStream: sourceStream)
                }
            } else {
                let answers = try inLanes(slices.count) { (lane, invocations) throws(ProcessorFailure) in
                    var answers: [[ProcessorResult]] = []
                    for index in invocations {
                        answers.append(
                            try self.invoke(
                                batch[invocationSlices[index]], fragments[invocationSlices[index]], sourceStream: sourceStream))
                    }
                    return answers
                }
                for answer in answers { results += answer }
            }
        case .persistent:
            results = try invokePersistent(batch, fragments, slices, sourceStream: sourceStream)
        }
        return results
    }

    /// Runs invocations `0..<count` on `min(processes, count)` lanes at once, lane `l` taking
    /// invocations `l`, `l + lanes`, … in order; `body` answers one result per invocation it was
    /// given. Lane 0 runs on the calling thread, every other lane on a thread of its own (lanes
    /// mostly wait on pipes, so they must not be limited to the number of cores). Returns the
    /// results in invocation order; if a lane failed, throws the failure of the first failed
    /// lane (the batch fails as a whole).
    private func inLanes(
        _ count: Int, _ body: @escaping @Sendable (_ lane: Int, _ invocations: [Int]) throws(ProcessorFailure) -> [[ProcessorResult]]
    ) throws(ProcessorFailure) -> [[ProcessorResult]] {
        let lanes = min(persistent.count, count)
        typealias Outcome = Result<[[ProcessorResult]], ProcessorFailure>
        let outcomes = ConditionLock<(results: [Outcome?], running: Int)>((Array(repeating: nil, count: lanes), lanes))
        @Sendable func run(_ lane: Int) {
            let invocations = Array(stride(from: lane, to: count, by: lanes))
            let outcome = Outcome { () throws(ProcessorFailure) in try body(lane, invocations) }
            outcomes.withLock { locked in
                locked.state.results[lane] = outcome
                locked.state.running -= 1
                locked.broadcast()
            }
        }
        for lane in 1..<lanes {
            Threads.spawn(name: "sluice-exec-lane-\(lane)") { run(lane) }
        }
        run(0)
        let finished = outcomes.withLock { locked in
            while locked.state.running > 0 { locked.wait() }
            return locked.state.results
        }
        var ordered: [[ProcessorResult]] = Array(repeating: [], count: count)
        for (lane, outcome) in finished.enumerated() {
            for (offset, answer) in try outcome!.get().enumerated() { ordered[lane + offset * lanes] = answer }
        }
        return ordered
    }

    /// The event of one invocation: the envelope and the records' fragments.
    private func event(_ fragments: ArraySlice<[UInt8]>, sourceStream: String, newline: Bool = false) -> [UInt8] {
        var event = envelope(invocationID: UUID().uuidString.lowercased(), sourceStream: sourceStream)
        event.reserveCapacity(event.count + fragments.reduce(4) { $0 + $1.count + 1 })
        for (offset, fragment) in fragments.enumerated() {
            if offset > 0 { event.append(UInt8(ascii: ",")) }
            event.append(contentsOf: fragment)
        }
        event.append(UInt8(ascii: "]"))
        event.append(UInt8(ascii: "}"))
        if newline { event.append(0x0A) }
        return event
    }

    /// Persistent mode: the invocations of a batch go to the processes in turn (with one process,
    /// all to it), back to back. The next event is written before the previous response is
    /// parsed, so the command works on one while Sluice reads the other; responses still come
    /// one line per event, in order. Any failure fails the whole batch and stops the process that
    /// failed, as for a single invocation.
    private func invokePersistent(
        _ batch: [ProcessorRecord], _ fragments: [[UInt8]], _ slices: [Range<Int>], sourceStream: String
    ) throws(ProcessorFailure) -> [ProcessorResult] {
        let started = monotonicNanoseconds()
        var results: [ProcessorResult] = []
        results.reserveCapacity(batch.count)
        if slices.count == 1 || persistent.count == 1 {
            for answer in try exchangeInLane(0, fragments, Array(slices.indices), batch, slices, sourceStream) { results += answer }
        } else {
            let answers = try inLanes(slices.count) { (lane, invocations) throws(ProcessorFailure) in
                try self.exchangeInLane(lane, fragments, invocations, batch, slices, sourceStream)
            }
            for answer in answers { results += answer }
        }
        logger.log(
            .debug, "exec: invocations done",
            [
                "records": "\(batch.count)", "invocations": "\(slices.count)",
                "milliseconds": "\((monotonicNanoseconds() - started) / 1_000_000)",
            ])
        return results
    }

    /// Sends the events of `invocations` to persistent process `lane` and parses its answers (one
    /// result list per invocation, in order). Each event is built just before it is written, so
    /// building the next event overlaps the command's work on the previous one.
    private func exchangeInLane(
        _ lane: Int, _ fragments: [[UInt8]], _ invocations: [Int], _ batch: [ProcessorRecord], _ slices: [Range<Int>],
        _ sourceStream: String
    ) throws(ProcessorFailure) -> [[ProcessorResult]] {
        var answers: [[ProcessorResult]] = []
        answers.reserveCapacity(invocations.count)
        try persistent[lane].slot.withLock { slot throws(ProcessorFailure) in
            do throws(ProcessorFailure) {
                let event = { (index: Int) in self.event(fragments[slices[invocations[index]]], sourceStream: sourceStream, newline: true) }
                try exchange(invocations.count, event, &slot) { (index, response, processID) throws(ProcessorFailure) in
                    let records = batch[slices[invocations[index]]]
                    do throws(ProcessorFailure) {
                        answers.append(try parse(response, records, processID: processID))
                    } catch {
                        // A second line for the previous event (or a blank one) is read as this
                        // event's answer: name the real mistake, as a single event would.
                        let blank = response.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
                        if index > 0,
                            blank || (try? parse(response, batch[slices[invocations[index - 1]]], processID: processID)) != nil
                        {
                            throw ProcessorFailure(
                                code: Self.jsonProcessingCode,
                                "exec command '\(commandForMessages)' (pid \(processID)) wrote more than one line for one event; in "
                                    + "persistent mode it must write exactly one response line per event line (write logs to "
                                    + "standard error).")
                        }
                        throw error
                    }
                }
            } catch {
                if let process = slot {
                    process.kill()
                    process.terminate(grace: 0)
                    reportStandardError(process)
                    logger.log(
                        .warning,
                        "exec: stopped the persistent process after a failure; the next batch starts a new one",
                        ["pid": "\(process.processID)", "code": error.code])
                    slot = nil
                }
                throw error
            }
        }
        return answers
    }

    /// One record of the event: Firehose's record with Kinesis metadata.
    private static func fragment(_ record: ProcessorRecord) -> [UInt8] {
        var writer = JSONWriter(
            capacity: Base64.encodedCount(record.data.count) + 256 + record.recordID.utf8.count
                + record.partitionKey.utf8.count)
        writer.beginObject()
        writer.key("recordId")
        writer.string(record.recordID)
        writer.key("approximateArrivalTimestamp")
        writer.number(record.approximateArrival.milliseconds)
        writer.key("data")
        writer.base64(record.data)
        writer.key("kinesisRecordMetadata")
        writer.beginObject()
        writer.key("shardId")
        writer.string(record.shardID)
        writer.key("partitionKey")
        writer.string(record.partitionKey)
        writer.key("approximateArrivalTimestamp")
        writer.number(record.approximateArrival.milliseconds)
        writer.key("sequenceNumber")
        writer.string(record.sequenceNumber)
        writer.key("subsequenceNumber")
        writer.number(record.subsequenceNumber)
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }

    /// The event up to and including the `[` of its records array.
    private func envelope(invocationID: String, sourceStream: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("invocationId")
        writer.string(invocationID)
        writer.key("deliveryStreamArn")
        writer.string(environment.deliveryStreamARN)
        if !sourceStream.isEmpty {
            writer.key("sourceKinesisStreamArn")
            writer.string(sourceStreamARNPrefix + sourceStream)
        }
        writer.key("region")
        writer.string(environment.region)
        writer.key("records")
        writer.beginArray()
        return writer.bytes
    }

    /// One invocation of the command for a slice of the batch (batch mode).
    private func invoke(
        _ records: ArraySlice<ProcessorRecord>, _ fragments: ArraySlice<[UInt8]>, sourceStream: String
    ) throws(ProcessorFailure) -> [ProcessorResult] {
        let started = monotonicNanoseconds()
        let event = event(fragments, sourceStream: sourceStream)
        let run = try runBatch(event)
        let results = try parse(run.response, records, processID: run.processID)
        logger.log(
            .debug, "exec: invocation done",
            [
                "records": "\(records.count)", "bytes": "\(event.count)",
                "milliseconds": "\((monotonicNanoseconds() - started) / 1_000_000)",
            ])
        return results
    }

    // MARK: - Running the command

    private func startProcess() throws(ProcessorFailure) -> Subprocess {
        do {
            return try Subprocess.spawn(
                Subprocess.Configuration(
                    arguments: configuration.arguments, maximumOutputBytes: Self.maximumResponseBytes,
                    standardErrorLimit: Self.standardErrorLimit))
        } catch {
            throw ProcessorFailure(
                code: Self.spawnFailedCode,
                "exec cannot start command '\(commandForMessages)': \(error). Check that \(configuration.arguments[0]) is "
                    + "installed and executable and on PATH (or give its path); relative paths are resolved against the "
                    + "working directory of sluice serve")
        }
    }

    /// Batch mode: one process, event on stdin, response until end of output, exit status 0.
    private func runBatch(_ event: [UInt8]) throws(ProcessorFailure) -> (response: [UInt8], processID: Int32) {
        let deadline = Subprocess.Deadline.after(seconds: configuration.timeoutInSeconds)
        let process = try startProcess()
        var inputClosedEarly = false
        let response: [UInt8]
        let termination: Subprocess.Termination
        do throws(Subprocess.Failure) {
            do {
                try process.write(all: event, deadline: deadline)
            } catch .inputClosed {
                inputClosedEarly = true  // the exit status or the response says why
            }
            process.closeInput()
            response = try process.readOutput(until: .endOfFile, deadline: deadline)
            termination = try process.wait(deadline: deadline)
            process.killProcessGroup()  // background children of the plugin end with it
            try process.collectStandardError()
        } catch {
            process.kill()
            let ended = try? process.wait(deadline: .after(seconds: 5))  // nil: still dying; deinit reaps it
            try? process.collectStandardError()  // best effort: the failure below is what matters
            let tail = reportStandardError(process)
            throw failure(error, process: process, termination: ended, standardErrorTail: tail)
        }
        let tail = reportStandardError(process)
        guard termination.isSuccess else {
            throw ProcessorFailure(
                code: Self.functionErrorCode,
                "exec command '\(commandForMessages)' (pid \(process.processID)) \(termination)"
                    + (inputClosedEarly ? " without reading all of its input" : "")
                    + "; it must answer on standard output and exit 0." + Self.stderrNote(tail))
        }
        return (response, process.processID)
    }

    /// Persistent mode: writes the events to the running process (started first if there is
    /// none, or if it ended since the last batch; `slot` holds it) and hands each response line
    /// to `handle`, in order. Event `i + 1` is written before response `i` is handled. Each
    /// response must come within `timeoutInSeconds` of the previous one. On a failure the process
    /// is stopped and `slot` cleared (the next batch starts a new one; the caller does the same
    /// when `handle` fails).
    private func exchange(
        _ count: Int, _ makeEvent: (Int) -> [UInt8], _ slot: inout Subprocess?,
        _ handle: (_ index: Int, _ response: [UInt8], _ processID: Int32) throws(ProcessorFailure) -> Void
    ) throws(ProcessorFailure) {
        if let idle = slot {
            var ended: Subprocess.Termination?
            do {
                ended = try idle.terminationIfExited()
            } catch {
                ended = .exited(-1)  // cannot be waited for: treat it as gone
            }
            if let ended {
                try? idle.collectStandardError()  // best effort: only for the log
                reportStandardError(idle)
                logger.log(
                    .warning, "exec: the persistent process \(ended) between batches; starting a new one",
                    ["pid": "\(idle.processID)"])
                idle.terminate(grace: 0)
                slot = nil
            }
        }
        var process: Subprocess
        if let running = slot {
            process = running
        } else {
            process = try startProcess()
            slot = process
            logger.log(
                .info, "exec: started the persistent process",
                ["pid": "\(process.processID)", "command": commandForMessages])
        }
        var written = 0  // events written so far (to this process or earlier ones)
        var answered = 0  // responses this process gave in this batch
        var index = 0
        // Events are built when first written and kept until answered (a replacement process
        // gets the unanswered ones again).
        var events: [[UInt8]?] = Array(repeating: nil, count: count)
        func event(_ index: Int) -> [UInt8] {
            if let built = events[index] { return built }
            let built = makeEvent(index)
            events[index] = built
            return built
        }
        while index < count {
            let deadline = Subprocess.Deadline.after(seconds: configuration.timeoutInSeconds)
            let response: [UInt8]
            do throws(Subprocess.Failure) {
                if written == index {
                    try process.write(all: event(index), deadline: deadline)
                    written += 1
                }
                // The next event goes out now; the command reads it once this response is written.
                if index + 1 < count, written == index + 1 {
                    do {
                        try process.write(all: event(index + 1), deadline: deadline)
                        written += 1
                    } catch .inputClosed {
                        // It may still have answered this event; see below for the next one.
                    }
                }
                response = try process.readOutput(until: .delimiter(0x0A), deadline: deadline)
                try process.collectStandardError()
            } catch {
                var ended = try? process.terminationIfExited()  // nil: still running, or cannot tell
                if ended == nil, case .outputEnded = error {
                    // Output closed: the process is most likely exiting; give it a moment to say how.
                    ended = try? process.wait(deadline: min(deadline, .after(seconds: 1)))
                } else if ended == nil, case .inputClosed = error {
                    ended = try? process.wait(deadline: min(deadline, .after(seconds: 1)))
                }
                if answered > 0, ended == .exited(0), !process.hasBufferedOutput {
                    // It answered this batch's earlier events and exited cleanly (a plugin that
                    // recycles itself): a new process takes this event and the rest, as a new
                    // batch would.
                    try? process.collectStandardError()
                    reportStandardError(process)
                    process.terminate(grace: 0)
                    logger.log(
                        .warning, "exec: the persistent process exited with status 0 between events; starting a new one for the rest",
                        ["pid": "\(process.processID)"])
                    slot = nil
                    process = try startProcess()
                    slot = process
                    written = index
                    answered = 0
                    continue
                }
                process.kill()
                if ended == nil { ended = try? process.wait(deadline: .after(seconds: 5)) }  // nil: left to deinit
                try? process.collectStandardError()  // best effort: the failure below is what matters
                let tail = reportStandardError(process)
                slot = nil
                throw failure(error, process: process, termination: ended, standardErrorTail: tail)
            }
            let tail = reportStandardError(process)
            // Only the last response may leave nothing behind: before it, the next response may
            // already have begun.
            if index == count - 1, process.hasBufferedOutput {
                throw ProcessorFailure(
                    code: Self.jsonProcessingCode,
                    "exec command '\(commandForMessages)' (pid \(process.processID)) wrote more than one line for one event; in "
                        + "persistent mode it must write exactly one response line per event line (write logs to standard "
                        + "error)." + Self.stderrNote(tail))
            }
            try handle(index, response, process.processID)
            events[index] = nil
            answered += 1
            index += 1
        }
    }

    /// The `ProcessorFailure` for a failed exchange with the process.
    private func failure(
        _ error: Subprocess.Failure, process: Subprocess, termination: Subprocess.Termination?,
        standardErrorTail tail: String
    ) -> ProcessorFailure {
        let subject = "exec command '\(commandForMessages)' (pid \(process.processID))"
        let ended = termination.map { " It \($0)." } ?? ""
        let note = Self.stderrNote(tail)
        switch error {
        case .timedOut:
            return ProcessorFailure(
                code: Self.functionTimeoutCode,
                "\(subject) did not answer within \(Self.seconds(configuration.timeoutInSeconds)) s "
                    + "(timeoutInSeconds); it was killed (SIGKILL). Make it faster, send smaller batches "
                    + "(maximumBatchRecords), or raise timeoutInSeconds (at most 300)." + note)
        case .outputTooLarge(let limit):
            return ProcessorFailure(
                code: Self.responseTooLargeCode,
                "\(subject) wrote a response larger than \(limit) bytes (Lambda's 6 MB response limit); it was killed. "
                    + "Lower maximumBatchRecords or maximumBatchBytes so each response stays under the limit." + note)
        case .outputEnded(let received):
            return ProcessorFailure(
                code: Self.functionErrorCode,
                "\(subject) closed its standard output before answering (\(received) bytes without a newline).\(ended) "
                    + "In persistent mode it must keep running and write one response line per event line." + note)
        case .inputClosed(let written):
            return ProcessorFailure(
                code: Self.functionErrorCode,
                "\(subject) closed its standard input after \(written) bytes of the event.\(ended) In persistent mode it "
                    + "must keep reading one event per line." + note)
        case .spawnFailed(let system), .system(let system):
            return ProcessorFailure(
                code: Self.functionErrorCode, "\(subject): talking to the process failed: \(system).\(ended)" + note)
        }
    }

    // MARK: - Response

    /// Checks a response and turns it into verdicts.
    private func parse(_ response: [UInt8], _ records: ArraySlice<ProcessorRecord>, processID: Int32)
        throws(ProcessorFailure) -> [ProcessorResult]
    {
        let subject = "exec command '\(commandForMessages)' (pid \(processID))"
        func malformed(_ problem: String) -> ProcessorFailure {
            ProcessorFailure(
                code: Self.jsonProcessingCode,
                "\(subject) answered an invalid response: \(problem). It must write "
                    + #"{"records": [{"recordId": "…", "result": "Ok", "data": "<base64>"}, …]} with one entry per received record."#
            )
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(response)
        } catch {
            let excerpt = String(decoding: response.prefix(80), as: UTF8.self)
            throw malformed("it is not JSON (\(error)); it starts with \"\(excerpt)\"")
        }
        guard case .object(let object) = root else {
            throw malformed("the response is \(root.kindDescription), not an object")
        }
        guard let recordsValue = object["records"] else { throw malformed("the member records is missing") }
        guard case .array(let items) = recordsValue else {
            throw malformed("records is \(recordsValue.kindDescription), not an array")
        }
        // Ids answered in the order they were sent (what handlers do) are checked by position;
        // the sets of Firehose's id checks are built only when an answer is out of order.
        let sent = Array(records)
        var inOrder = true
        var expected = Set<String>()
        var seen = Set<String>()
        var results: [ProcessorResult] = []
        results.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            guard case .object(let entry) = item else {
                throw malformed("records[\(position)] is \(item.kindDescription), not an object")
            }
            guard case .string(let idText)? = entry["recordId"], let id = idText.string else {
                throw malformed("records[\(position)] has no recordId string")
            }
            var name: String { "records[\(position)] (recordId \(id))" }
            guard case .string(let resultText)? = entry["result"] else {
                throw malformed("\(name) has no result string")
            }
            guard case .string(let dataText)? = entry["data"] else {
                throw malformed("\(name) has no data string (every record needs recordId, result and data)")
            }
            if inOrder, position < sent.count, sent[position].recordID == id {
                // Matched by position: sent, and not answered before.
            } else {
                if inOrder {
                    inOrder = false
                    expected = Set(sent.map(\.recordID))
                    seen = Set(sent.prefix(position).map(\.recordID))
                }
                guard expected.contains(id) else {
                    throw ProcessorFailure(
                        code: Self.missingRecordIDCode,
                        "\(subject) answered record id \(id), which was not in the event. Ensure that it returns exactly the "
                            + "received record ids.")
                }
                guard seen.insert(id).inserted else {
                    throw ProcessorFailure(
                        code: Self.duplicatedRecordIDCode,
                        "\(subject) answered record id \(id) more than once. Ensure that it returns each received record id once."
                    )
                }
            }
            let data: [UInt8]
            switch dataText.withBytes({ Base64.decode($0) }) {
            case .success(let bytes): data = bytes
            case .failure(let reason): throw malformed("\(name) has data that is not base64: \(reason.awsReason)")
            }
            let verdict: ProcessorVerdict
            if resultText.equals("Ok") {
                verdict = .ok(data: data, partitionKeys: try partitionKeys(entry, name: name, malformed))
            } else if resultText.equals("Dropped") {
                verdict = .dropped
            } else if resultText.equals("ProcessingFailed") {
                verdict = .processingFailed(
                    code: Self.processingFailedStatusCode, message: Self.processingFailedStatusMessage)
            } else {
                throw malformed(
                    "\(name) has result \"\(resultText.string ?? "?")\"; use Ok, Dropped or ProcessingFailed")
            }
            results.append(ProcessorResult(recordID: id, verdict: verdict))
        }
        if inOrder, items.count < sent.count {
            seen = Set(sent.prefix(items.count).map(\.recordID))
            expected = Set(sent.map(\.recordID))
        }
        if !inOrder || items.count < sent.count, seen.count != expected.count {
            let example = records.first { !seen.contains($0.recordID) }?.recordID ?? "?"
            throw ProcessorFailure(
                code: Self.missingRecordIDCode,
                "\(subject) did not return \(expected.count - seen.count) of \(expected.count) record ids (for example "
                    + "\(example)). One or more record Ids were not returned; ensure that it returns all received record ids."
            )
        }
        return results
    }

    /// `metadata.partitionKeys`, string to string.
    private func partitionKeys(
        _ entry: JSONObject, name: String, _ malformed: (String) -> ProcessorFailure
    ) throws(ProcessorFailure) -> [String: String] {
        guard let metadata = entry["metadata"] else { return [:] }
        guard case .object(let metadataObject) = metadata else {
            throw malformed("\(name): metadata is \(metadata.kindDescription), not an object")
        }
        guard let keysValue = metadataObject["partitionKeys"] else { return [:] }
        guard case .object(let keys) = keysValue else {
            throw malformed("\(name): metadata.partitionKeys is \(keysValue.kindDescription), not an object")
        }
        var result: [String: String] = [:]
        for member in keys.members {
            guard let key = member.name.string else { throw malformed("\(name): a partition key name is not UTF-8") }
            guard case .string(let valueText) = member.value, let value = valueText.string else {
                throw malformed(
                    "\(name): partition key \(key) is \(member.value.kindDescription); partition key values must be strings"
                )
            }
            result[key] = value
        }
        return result
    }

    // MARK: - Standard error and messages

    /// Logs the standard error collected since the last call, one warning per line, and returns
    /// its last lines for failure messages.
    @discardableResult
    private func reportStandardError(_ process: Subprocess) -> String {
        let captured = process.takeStandardError()
        guard !captured.bytes.isEmpty || captured.droppedBytes > 0 else { return "" }
        let logger = logger.with("pid", "\(process.processID)")
        if captured.droppedBytes > 0 {
            logger.log(
                .warning,
                "exec stderr: \(captured.droppedBytes) earlier bytes dropped (at most \(Self.standardErrorLimit) bytes are "
                    + "kept per invocation)")
        }
        var lines = String(decoding: captured.bytes, as: UTF8.self).split(
            separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for line in lines {
            logger.log(.warning, "exec stderr: \(line.hasSuffix("\r") ? line.dropLast() : line)")
        }
        var tail = lines.suffix(5).filter { !$0.allSatisfy(\.isWhitespace) }.joined(separator: " | ")
        if tail.count > 1000 { tail = "…" + tail.suffix(1000) }
        return tail
    }

    private static func stderrNote(_ tail: String) -> String {
        tail.isEmpty ? " (It wrote nothing to standard error.)" : " Last standard error: " + tail
    }

    /// The command for messages, shortened.
    private var commandForMessages: String {
        configuration.command.count > 200 ? configuration.command.prefix(200) + "…" : configuration.command
    }

    /// `0.5`, `60`.
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// One persistent process of an `ExecProcessor`, behind a lock (a class so several fit in an array).
private final class ProcessSlot: Sendable {
    let slot = Mutex<Subprocess?>(nil)
}
