import Foundation
import SluicePipelines
import SluiceSupport
import SluiceTestSupport
import Testing

/// `exec` against real processes: the example handler through `Pipelines/plugins/sluice_exec.py`,
/// and `Fixtures/plugins/faulty_plugin.py` for every way a plugin can fail.
@Suite(.timeLimit(.minutes(1)))
struct ExecProcessorTests {
    static let faulty = "python3 '\(packageRoot)/Fixtures/plugins/faulty_plugin.py'"
    static let example =
        "python3 '\(packageRoot)/Pipelines/plugins/sluice_exec.py' '\(packageRoot)/Pipelines/plugins/firehose_handler.py:lambda_handler'"
    static let deliveryStreamARN = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/clicks"

    enum RunMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case batch, persistent
        var testDescription: String { rawValue }
        /// The flag the plugins take for this mode.
        var flag: String { self == .persistent ? " --persistent" : "" }
    }

    // MARK: - Helpers

    private func environment(_ logger: Logger = .disabled) -> ProcessorEnvironment {
        ProcessorEnvironment(
            pipelineName: "clicks", deliveryStreamARN: Self.deliveryStreamARN, region: "eu-west-1", logger: logger)
    }

    private func make(_ parameters: [String: String], logger: Logger = .disabled) throws(ProcessorConfigurationError)
        -> ExecProcessor
    {
        try ExecProcessor(parameters: parameters, environment: environment(logger))
    }

    /// The faulty plugin in `mode`, echoing unless a record asks otherwise.
    private func faulty(
        _ mode: RunMode, behaviour: String = "echo", timeout: String = "10", extra: [String: String] = [:],
        logger: Logger = .disabled
    ) throws -> ExecProcessor {
        var parameters = [
            "command": Self.faulty + " " + behaviour + mode.flag, "mode": mode.rawValue, "timeoutInSeconds": timeout,
        ]
        parameters.merge(extra) { _, new in new }
        return try make(parameters, logger: logger)
    }

    private func records(_ payloads: [String], stream: String = "clicks") -> [ProcessorRecord] {
        payloads.enumerated().map { offset, payload in
            ProcessorRecord(
                recordID: "r-\(offset)", data: Array(payload.utf8),
                approximateArrival: Timestamp(milliseconds: 1_700_000_000_000 + Int64(offset)), sourceStream: stream,
                shardID: "shardId-000000000001", sequenceNumber: "4960000000000000000000000000000000000\(offset)",
                subsequenceNumber: offset % 2, partitionKey: "user-\(offset)")
        }
    }

    private func failure(_ processor: ExecProcessor, _ batch: [ProcessorRecord]) -> ProcessorFailure? {
        do {
            let results = try processor.process(batch)
            Issue.record("expected a ProcessorFailure, got \(results)")
            return nil
        } catch {
            return error
        }
    }

    private func keys(_ result: ProcessorResult) -> [String: String] {
        guard case .ok(_, let keys) = result.verdict else { return [:] }
        return keys
    }

    /// Dead and reaped (no /proc entry), or at least dead (a zombie of init, for a grandchild).
    private func isGone(_ processID: Int32, allowZombie: Bool = false) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(processID)/stat", encoding: .utf8) else { return true }
        guard allowZombie, let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    private func readPID(_ path: String) throws -> Int32 {
        try #require(
            Int32(String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    // MARK: - Good records

    @Test(arguments: RunMode.allCases) func theExampleHandlerEnrichesDropsAndFails(mode: RunMode) throws {
        let processor = try make(["command": Self.example + mode.flag, "mode": mode.rawValue])
        let batch = records([
            #"{"event_type":"click","user":"ana"}"#, #"{"event_type":"heartbeat"}"#, "not json at all",
            #"{"event_type":"Page View!","user":"bo"}"#, "[1,2]",
        ])
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["r-0", "r-1", "r-2", "r-3", "r-4"])
        let failed = ProcessorVerdict.processingFailed(
            code: "Lambda.ProcessingFailedStatus", message: "ProcessingFailed status set for record")
        #expect(results[1].verdict == .dropped)
        #expect(results[2].verdict == failed)
        #expect(results[4].verdict == failed)
        for (index, user, eventType) in [(0, "ana", "click"), (3, "bo", "page_view")] {
            guard case .ok(let data, let keys) = results[index].verdict else {
                Issue.record("expected Ok for record \(index), got \(results[index].verdict)")
                continue
            }
            #expect(keys == ["event_type": eventType])
            #expect(data.last == 0x0A)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
            #expect(object["user"] as? String == user)
            #expect(object["enriched"] as? Bool == true)
            #expect((object["processedAt"] as? String)?.hasSuffix("Z") == true)
        }
    }

    @Test(arguments: RunMode.allCases) func theEventCarriesFirehoseAndKinesisFields(mode: RunMode) throws {
        let processor = try faulty(mode)
        let results = try processor.process(records(["a", "b"]))
        #expect(results.count == 2)
        let first = keys(results[0])
        #expect(first["region"] == "eu-west-1")
        #expect(first["deliveryStreamArn"] == Self.deliveryStreamARN)
        #expect(first["sourceKinesisStreamArn"] == "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks")
        #expect(first["shardId"] == "shardId-000000000001")
        #expect(first["partitionKey"] == "user-0")
        #expect(first["sequenceNumber"] == "49600000000000000000000000000000000000")
        #expect(first["subsequenceNumber"] == "0")
        #expect(first["arrival"] == "1700000000000/1700000000000")
        #expect(keys(results[1])["subsequenceNumber"] == "1")
        #expect(UUID(uuidString: first["invocation"] ?? "") != nil)
        #expect(results[0].verdict == .ok(data: Array("a".utf8), partitionKeys: first))
    }

    @Test(arguments: RunMode.allCases) func perRecordVerdictsAreKept(mode: RunMode) throws {
        let processor = try faulty(mode)
        let results = try processor.process(records(["keep", "fail me", "drop me", "binary\u{0}\u{7F}"]))
        #expect(results.map(\.recordID) == ["r-0", "r-1", "r-2", "r-3"])
        #expect(
            results[1].verdict
                == .processingFailed(
                    code: ExecProcessor.processingFailedStatusCode, message: ExecProcessor.processingFailedStatusMessage
                ))
        #expect(results[2].verdict == .dropped)
        guard case .ok(let data, _) = results[3].verdict else {
            Issue.record("expected Ok, got \(results[3].verdict)")
            return
        }
        #expect(data == Array("binary\u{0}\u{7F}".utf8))
    }

    @Test func aPersistentProcessServesManyBatches() throws {
        let processor = try faulty(.persistent)
        #expect(processor.persistentProcessID == nil)  // started on first use
        _ = try processor.process(records(["a"]))
        let processID = try #require(processor.persistentProcessID)
        for round in 0..<5 {
            let results = try processor.process(records(["x\(round)", "y"]))
            #expect(results.count == 2)
        }
        #expect(processor.persistentProcessID == processID)
    }

    @Test(arguments: RunMode.allCases) func aSlowPluginWithinItsTimeoutSucceeds(mode: RunMode) throws {
        let processor = try faulty(mode, timeout: "5")
        let results = try processor.process(records(["@slow", "b"]))
        #expect(results.count == 2)
    }

    @Test func anEmptyBatchRunsNothing() throws {
        let processor = try make(["command": "sluice-no-such-program"])
        #expect(try processor.process([]).isEmpty)
    }

    // MARK: - Splitting

    @Test(arguments: RunMode.allCases) func aBatchIsSplitByRecordCount(mode: RunMode) throws {
        let processor = try faulty(mode, extra: ["maximumBatchRecords": "3"])
        let results = try processor.process(records((0..<10).map { "record \($0)" }))
        #expect(results.map(\.recordID) == (0..<10).map { "r-\($0)" })
        var invocations: [String] = []
        for result in results where invocations.last != keys(result)["invocation"] {
            invocations.append(keys(result)["invocation"] ?? "")
        }
        #expect(invocations.count == 4)
        #expect(Set(invocations).count == 4)
        #expect(results.map { keys($0)["count"] ?? "" } == ["3", "3", "3", "3", "3", "3", "3", "3", "3", "1"])
    }

    @Test(arguments: RunMode.allCases) func aBatchIsSplitByEventBytes(mode: RunMode) throws {
        let processor = try faulty(mode, extra: ["maximumBatchBytes": "4000"])
        let payload = String(repeating: "p", count: 900)  // 1200 bytes of base64, about 1500 with metadata
        let results = try processor.process(
            records(Array(repeating: payload, count: 8) + [String(repeating: "q", count: 5000)]))
        #expect(results.count == 9)
        let sizes = results.map { Int(keys($0)["eventBytes"] ?? "") ?? 0 }
        let counts = results.map { Int(keys($0)["count"] ?? "") ?? 0 }
        #expect(sizes.dropLast().allSatisfy { $0 <= 4000 && $0 > 2000 }, "\(sizes)")
        #expect(counts == [2, 2, 2, 2, 2, 2, 2, 2, 1])
        #expect(Set(results.map { keys($0)["invocation"] ?? "" }).count == 5)
        // A record larger than the limit goes alone.
        #expect(sizes.last.map { $0 > 4000 } == true)
    }

    // MARK: - Failures

    struct FailureCase: Sendable, CustomTestStringConvertible {
        var behaviour: String
        var code: String
        var fragment: String
        var testDescription: String { behaviour }
    }

    static let failureCases: [FailureCase] = [
        FailureCase(behaviour: "crash", code: "Lambda.FunctionError", fragment: "boom: crashing on purpose"),
        FailureCase(behaviour: "garbage", code: "Lambda.JsonProcessingException", fragment: "it is not JSON"),
        FailureCase(
            behaviour: "not-object", code: "Lambda.JsonProcessingException", fragment: "an array, not an object"),
        FailureCase(behaviour: "oversize", code: "Lambda.ResponseSizeTooLarge", fragment: "larger than 6291456 bytes"),
        FailureCase(
            behaviour: "missing-id", code: "Lambda.MissingRecordId", fragment: "did not return 1 of 3 record ids"),
        FailureCase(
            behaviour: "duplicated-id", code: "Lambda.DuplicatedRecordId", fragment: "record id r-0 more than once"),
        FailureCase(
            behaviour: "unknown-id", code: "Lambda.MissingRecordId", fragment: "not-sent, which was not in the event"),
        FailureCase(
            behaviour: "bad-base64", code: "Lambda.JsonProcessingException", fragment: "data that is not base64"),
        FailureCase(behaviour: "missing-data", code: "Lambda.JsonProcessingException", fragment: "has no data string"),
        FailureCase(behaviour: "unknown-result", code: "Lambda.JsonProcessingException", fragment: "result \"Maybe\""),
        FailureCase(
            behaviour: "bad-partition-key", code: "Lambda.JsonProcessingException",
            fragment: "partition key year is a number"),
    ]

    @Test(arguments: RunMode.allCases, failureCases)
    func eachFailureFailsTheBatchAndTheNextCallWorks(mode: RunMode, failure expected: FailureCase) throws {
        let processor = try faulty(mode)
        let error = try #require(failure(processor, records(["@" + expected.behaviour, "b", "c"])))
        #expect(error.code == expected.code)
        #expect(error.message.contains(expected.fragment), "\(error.message)")
        #expect(error.message.contains("faulty_plugin.py"), "names the command: \(error.message)")
        if mode == .persistent { #expect(processor.persistentProcessID == nil) }  // stopped; restarted on next use
        let results = try processor.process(records(["a", "b"]))
        #expect(results.map(\.recordID) == ["r-0", "r-1"])
        if mode == .persistent { #expect(processor.persistentProcessID != nil) }
    }

    @Test func aCrashReportsTheExitStatusAndStandardError() throws {
        let processor = try faulty(.batch)
        let error = try #require(failure(processor, records(["@crash"])))
        #expect(error.code == ExecProcessor.functionErrorCode)
        #expect(error.message.contains("exited with status 3"))
        #expect(error.message.contains("Last standard error: boom: crashing on purpose"))
    }

    @Test func aPersistentCrashReportsTheExitStatus() throws {
        let processor = try faulty(.persistent)
        _ = try processor.process(records(["warm up"]))
        let error = try #require(failure(processor, records(["@crash"])))
        #expect(error.code == ExecProcessor.functionErrorCode)
        #expect(error.message.contains("closed its standard output before answering"), "\(error.message)")
        #expect(error.message.contains("exited with status 3"), "\(error.message)")
    }

    @Test(arguments: RunMode.allCases) func aMissingProgramFailsToSpawn(mode: RunMode) throws {
        let processor = try make([
            "command": "sluice-no-such-program-\(UUID().uuidString) --flag", "mode": mode.rawValue,
        ])
        let error = try #require(failure(processor, records(["a"])))
        #expect(error.code == ExecProcessor.spawnFailedCode)
        #expect(error.message.contains("No such file or directory"), "\(error.message)")
        #expect(error.message.contains("PATH"))
    }

    @Test func aDeathBySignalIsAFunctionError() throws {
        let processor = try make(["command": "sh -c \"kill -KILL \\$\\$\""])
        let error = try #require(failure(processor, records(["a"])))
        #expect(error.code == ExecProcessor.functionErrorCode)
        #expect(error.message.contains("was killed by signal 9 (SIGKILL)"), "\(error.message)")
    }

    /// Persistent mode writes the next event before it reads a response; a failure in the
    /// middle of a batch still fails the whole batch, stops the process, and the next batch
    /// starts a new one.
    @Test(arguments: RunMode.allCases) func severalProcessesShareASplitBatchAndKeepTheOrder(mode: RunMode) throws {
        let processor = try faulty(mode, extra: ["maximumBatchRecords": "3", "processes": "2"])
        for round in 0..<3 {
            let results = try processor.process(records((0..<10).map { "record \(round)-\($0)" }))
            #expect(results.map(\.recordID) == (0..<10).map { "r-\($0)" })
            // Each invocation answered its own three records (one invocation id per run of three).
            let invocations = results.map { keys($0)["invocation"] ?? "" }
            #expect(Set(invocations).count == 4)
            for start in stride(from: 0, to: 9, by: 3) { #expect(Set(invocations[start..<start + 3]).count == 1) }
        }
        if mode == .persistent {
            // Two long-lived processes, both kept for the next batches.
            let running = processor.persistentProcessIDs
            #expect(running.count == 2)
            #expect(Set(running).count == 2)
            _ = try processor.process(records((0..<10).map { "again \($0)" }))
            #expect(processor.persistentProcessIDs == running)
        }
    }

    /// `processes` invocations really run at once, more than there are cores: each of four waits
    /// at a barrier until all four have arrived (one after another, the first would time out).
    @Test(arguments: RunMode.allCases) func fourProcessesRunFourInvocationsAtOnce(mode: RunMode) throws {
        try withTemporaryDirectory { directory in
            let processor = try faulty(mode, extra: ["maximumBatchRecords": "1", "processes": "4"])
            let barrier = "@barrier:\(directory):4"
            let results = try processor.process(records([barrier, barrier, barrier, barrier]))
            #expect(results.map(\.recordID) == ["r-0", "r-1", "r-2", "r-3"])
            if mode == .persistent { #expect(Set(processor.persistentProcessIDs).count == 4) }
        }
    }

    @Test(arguments: RunMode.allCases, ["@crash", "@garbage", "@missing-id"])
    func aFailureOfOneOfSeveralProcessesFailsTheBatch(mode: RunMode, behaviour: String) throws {
        let processor = try faulty(mode, extra: ["maximumBatchRecords": "2", "processes": "2"])
        // Invocations of 2 records; the fourth (second process, second turn) fails.
        let error = try #require(failure(processor, records(["a", "b", "c", "d", "e", "f", behaviour, "h", "i", "j"])))
        #expect(!error.code.isEmpty)
        if mode == .persistent { #expect(processor.persistentProcessIDs.count == 1) }  // the failed one was stopped
        let results = try processor.process(records(["x", "y", "z", "w", "v"]))
        #expect(results.map(\.recordID) == ["r-0", "r-1", "r-2", "r-3", "r-4"])
        if mode == .persistent { #expect(processor.persistentProcessIDs.count == 2) }
    }

    @Test(arguments: ["@crash", "@garbage", "@missing-id"])
    func aFailureInTheMiddleOfPipelinedEventsFailsTheBatch(behaviour: String) throws {
        let processor = try faulty(.persistent, extra: ["maximumBatchRecords": "3"])
        #expect(try processor.process(records(["warm-up"])).count == 1)
        let first = try #require(processor.persistentProcessID)
        // Events of 3 records: the third event's first record picks the behaviour.
        let error = try #require(failure(processor, records(["a", "b", "c", "d", "e", "f", behaviour, "h", "i", "j", "k"])))
        #expect(!error.code.isEmpty)
        let results = try processor.process(records(["x", "y", "z", "w"]))
        #expect(results.map(\.recordID) == ["r-0", "r-1", "r-2", "r-3"])
        #expect(processor.persistentProcessID != first)
    }

    /// A plugin that exits after answering (one that recycles itself) in the middle of a batch:
    /// its answer counts, and a new process takes the remaining events.
    @Test func aProcessThatExitsBetweenPipelinedEventsIsReplacedWithinTheBatch() throws {
        let sink = InMemoryLogSink()
        let processor = try faulty(.persistent, extra: ["maximumBatchRecords": "3"], logger: Logger(label: "test", level: .trace, sink: sink))
        #expect(try processor.process(records(["warm-up"])).count == 1)
        let first = try #require(processor.persistentProcessID)
        let payloads = ["a", "b", "c", "d", "e", "f", "@exit-after", "h", "i", "j", "k"]
        let results = try processor.process(records(payloads))
        #expect(results.map(\.recordID) == (0..<11).map { "r-\($0)" })
        #expect(results.allSatisfy { if case .ok = $0.verdict { true } else { false } })
        #expect(processor.persistentProcessID != first)
        #expect(sink.events.contains { $0.level == .warning && $0.message.contains("between events; starting a new one") })
    }

    /// The same when the batch is split: the extra line is not taken for the next event's answer.
    @Test func aSecondResponseLineIsNamedWhenTheNextEventIsAlreadyWritten() throws {
        let processor = try faulty(.persistent, extra: ["maximumBatchRecords": "1"])
        let error = try #require(failure(processor, records(["@two-lines", "b", "c"])))
        #expect(error.code == ExecProcessor.jsonProcessingCode)
        #expect(error.message.contains("more than one line"))
        #expect(try processor.process(records(["a", "b"])).count == 2)
    }

    @Test func aSecondResponseLineInPersistentModeIsAnError() throws {
        let processor = try faulty(.persistent)
        let error = try #require(failure(processor, records(["@two-lines", "b"])))
        #expect(error.code == ExecProcessor.jsonProcessingCode)
        #expect(error.message.contains("more than one line"))
        #expect(try processor.process(records(["a"])).count == 1)
    }

    @Test func aPersistentProcessThatExitedBetweenBatchesIsRestarted() throws {
        let sink = InMemoryLogSink()
        let processor = try faulty(.persistent, logger: Logger(label: "test", level: .trace, sink: sink))
        #expect(try processor.process(records(["@exit-after", "b"])).count == 2)
        let first = try #require(processor.persistentProcessID)
        // The process exits right after answering; wait until it is gone (it is not reaped yet).
        let deadline = Date().addingTimeInterval(10)
        while !isGone(first, allowZombie: true), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        #expect(try processor.process(records(["a", "b"])).count == 2)
        #expect(processor.persistentProcessID != first)
        #expect(isGone(first))
        #expect(
            sink.events.contains { $0.level == .warning && $0.message.contains("exited with status 0 between batches") }
        )
    }

    // MARK: - Timeouts and zombies

    @Test(arguments: RunMode.allCases) func aHangIsKilledWithinTheTimeout(mode: RunMode) throws {
        try withTemporaryDirectory { directory in
            let pidFile = directory + "/pid"
            let processor = try make([
                "command": Self.faulty + " hang --pid-file '\(pidFile)'" + mode.flag, "mode": mode.rawValue,
                "timeoutInSeconds": "0.5",
            ])
            let start = Date()
            let error = try #require(failure(processor, records(["a"])))
            let elapsed = Date().timeIntervalSince(start)
            #expect(error.code == ExecProcessor.functionTimeoutCode)
            #expect(error.message.contains("did not answer within 0.5 s"), "\(error.message)")
            #expect(error.message.contains("hanging"), "includes stderr: \(error.message)")
            #expect(elapsed >= 0.45 && elapsed < 3, "took \(elapsed) s")
            #expect(isGone(try readPID(pidFile)), "the killed plugin was reaped")
            #expect(processor.persistentProcessID == nil)
        }
    }

    @Test func aHangInAGrandchildIsKilledWithTheProcessGroup() throws {
        try withTemporaryDirectory { directory in
            let pidFile = directory + "/pid"
            // The shell waits for python, which holds stdout open: only killing the group ends it.
            let command =
                "sh -c \"python3 '\(packageRoot)/Fixtures/plugins/faulty_plugin.py' hang --pid-file '\(pidFile)'; echo after\""
            let processor = try make(["command": command, "timeoutInSeconds": "0.5"])
            let start = Date()
            let error = try #require(failure(processor, records(["a"])))
            #expect(error.code == ExecProcessor.functionTimeoutCode)
            #expect(Date().timeIntervalSince(start) < 3)
            let grandchild = try readPID(pidFile)
            let deadline = Date().addingTimeInterval(5)
            while !isGone(grandchild, allowZombie: true), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
            #expect(isGone(grandchild, allowZombie: true))
        }
    }

    @Test func noZombieIsLeftAfterBatchesAndFailures() throws {
        try withTemporaryDirectory { directory in
            let pidFile = directory + "/pid"
            let processor = try make(["command": Self.faulty + " echo --pid-file '\(pidFile)'"])
            _ = try processor.process(records(["a"]))
            #expect(isGone(try readPID(pidFile)))
            _ = failure(processor, records(["@crash"]))
            #expect(isGone(try readPID(pidFile)))
            _ = failure(processor, records(["@garbage"]))
            #expect(isGone(try readPID(pidFile)))
        }
    }

    @Test func releasingAPersistentProcessorEndsItsProcess() throws {
        var processID: Int32 = 0
        do {
            let processor = try faulty(.persistent)
            _ = try processor.process(records(["a"]))
            processID = try #require(processor.persistentProcessID)
            #expect(!isGone(processID))
        }
        #expect(isGone(processID))
    }

    // MARK: - Standard error

    @Test(arguments: RunMode.allCases) func standardErrorReachesTheLogger(mode: RunMode) throws {
        let sink = InMemoryLogSink()
        let processor = try faulty(
            mode, logger: Logger(label: "pipeline", level: .info, sink: sink).with("pipeline", "clicks"))
        _ = try processor.process(records(["@stderr", "b", "c"]))
        let lines = sink.events.filter { $0.message.hasPrefix("exec stderr: ") }
        #expect(lines.map(\.message) == ["exec stderr: saw r-0", "exec stderr: saw r-1", "exec stderr: saw r-2"])
        #expect(lines.allSatisfy { $0.level == .warning })
        #expect(lines.allSatisfy { $0.metadata["pipeline"] == "clicks" && $0.metadata["processor"] == "exec" })
        #expect(lines.allSatisfy { $0.metadata["pid"] != nil })
    }

    @Test(arguments: RunMode.allCases) func standardErrorIsBoundedPerInvocation(mode: RunMode) throws {
        let sink = InMemoryLogSink()
        let processor = try faulty(mode, logger: Logger(label: "pipeline", level: .info, sink: sink))
        #expect(try processor.process(records(["@stderr-flood", "b"])).count == 2)
        let events = sink.events.filter { $0.message.hasPrefix("exec stderr: ") }
        let logged = events.dropFirst().reduce(0) { $0 + $1.message.utf8.count - "exec stderr: ".utf8.count }
        #expect(logged <= ExecProcessor.standardErrorLimit)
        #expect(logged > ExecProcessor.standardErrorLimit / 2)
        #expect(events.first?.message.contains("earlier bytes dropped") == true)
    }

    // MARK: - Parameters

    @Test func defaultsAndRegistration() throws {
        let processor = try make(["command": "python3 plugin.py"])
        #expect(processor.configuration.arguments == ["python3", "plugin.py"])
        #expect(processor.configuration.mode == .batch)
        #expect(processor.configuration.timeoutInSeconds == 60)
        #expect(processor.configuration.maximumBatchRecords == 500)
        #expect(processor.configuration.maximumBatchBytes == 1_048_576)
        let type = try #require(ProcessorRegistry.type(named: "exec"))
        #expect(processor.configuration.processes == 1)
        #expect(
            type.parameters == ["command", "mode", "timeoutInSeconds", "maximumBatchRecords", "maximumBatchBytes", "processes"])
        // Validation builds the processor without starting anything, even for a missing program.
        _ = try type.make(
            ["command": "sluice-no-such-program", "mode": "persistent"], .validation(pipelineName: "clicks"))
    }

    @Test func parametersAreParsed() throws {
        let processor = try make([
            "command": "python3 x.py", "mode": "persistent", "timeoutInSeconds": "0.5", "maximumBatchRecords": "10000",
            "maximumBatchBytes": "6291456", "processes": "16",
        ])
        #expect(processor.configuration.processes == 16)
        #expect(processor.configuration.mode == .persistent)
        #expect(processor.configuration.timeoutInSeconds == 0.5)
        #expect(processor.configuration.maximumBatchRecords == 10_000)
        #expect(processor.configuration.maximumBatchBytes == 6_291_456)
    }

    @Test(arguments: [
        ("a b\tc\n d", ["a", "b", "c", "d"]),
        (#"python3 "my plugin.py" --name='a b' x"#, ["python3", "my plugin.py", "--name=a b", "x"]),
        (#"a\ b c\"d"#, ["a b", "c\"d"]),
        (#""a\"b\\c\$d\x" 'e\"f'"#, [#"a"b\c$d\x"#, #"e\"f"#]),
        (#"'' "" x"#, ["", "", "x"]),
        (#"sh -c "echo \$\$; exit 3""#, ["sh", "-c", "echo $$; exit 3"]),
    ])
    func commandsAreSplitLikeShellWords(command: String, words: [String]) throws {
        #expect(try ExecProcessor.splitCommand(command) == words)
    }

    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var parameters: [String: String]
        var parameter: String
        var fragment: String
        var testDescription: String { "\(parameters)" }
    }

    static let invalidCases: [InvalidCase] = [
        InvalidCase(parameters: ["mode": "batch"], parameter: "command", fragment: "exec needs the parameter command"),
        InvalidCase(parameters: ["command": "   "], parameter: "command", fragment: "exec needs the parameter command"),
        InvalidCase(
            parameters: ["command": "python3 'plugin.py"], parameter: "command", fragment: "unterminated single quote"),
        InvalidCase(
            parameters: ["command": "python3 \"plugin.py"], parameter: "command", fragment: "unterminated double quote"),
        InvalidCase(
            parameters: ["command": "python3 plugin.py \\"], parameter: "command", fragment: "ends with a backslash"),
        InvalidCase(
            parameters: ["command": "x", "mode": "fast"], parameter: "mode",
            fragment: "the parameter mode is \"fast\"; use \"batch\""),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "0"], parameter: "timeoutInSeconds",
            fragment: "from 0.1 to 300"),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "0.05"], parameter: "timeoutInSeconds",
            fragment: "from 0.1 to 300"),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "301"], parameter: "timeoutInSeconds",
            fragment: "from 0.1 to 300"),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "1e2"], parameter: "timeoutInSeconds",
            fragment: "is \"1e2\""),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "-1"], parameter: "timeoutInSeconds", fragment: "is \"-1\""
        ),
        InvalidCase(
            parameters: ["command": "x", "timeoutInSeconds": "1."], parameter: "timeoutInSeconds", fragment: "is \"1.\""
        ),
        InvalidCase(
            parameters: ["command": "x", "maximumBatchRecords": "0"], parameter: "maximumBatchRecords",
            fragment: "from 1 to 10000"),
        InvalidCase(
            parameters: ["command": "x", "maximumBatchRecords": "10001"], parameter: "maximumBatchRecords",
            fragment: "from 1 to 10000"),
        InvalidCase(
            parameters: ["command": "x", "maximumBatchRecords": "ten"], parameter: "maximumBatchRecords",
            fragment: "is \"ten\""),
        InvalidCase(
            parameters: ["command": "x", "maximumBatchBytes": "6291457"], parameter: "maximumBatchBytes",
            fragment: "from 1 to 6291456"),
        InvalidCase(
            parameters: ["command": "x", "maximumBatchBytes": "0"], parameter: "maximumBatchBytes",
            fragment: "from 1 to 6291456"),
        InvalidCase(
            parameters: ["command": "x", "processes": "0"], parameter: "processes",
            fragment: "the parameter processes is \"0\"; use a whole number from 1 to 16"),
        InvalidCase(
            parameters: ["command": "x", "processes": "17"], parameter: "processes", fragment: "from 1 to 16"),
        InvalidCase(parameters: ["command": "x", "processes": "two"], parameter: "processes", fragment: "is \"two\""),
    ]

    @Test(arguments: invalidCases)
    func invalidParametersAreExplained(invalid: InvalidCase) {
        do {
            _ = try make(invalid.parameters)
            Issue.record("expected a configuration error for \(invalid.parameters)")
        } catch {
            #expect(error.parameter == invalid.parameter)
            #expect(error.message.contains(invalid.fragment), "\(error.message)")
        }
    }
}
