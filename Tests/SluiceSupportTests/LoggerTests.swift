import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct LoggerTests {
    @Test func eventsBelowTheLevelAreDropped() {
        let sink = InMemoryLogSink()
        let logger = Logger(label: "sluice.test", level: .notice, sink: sink)
        for level in LogLevel.allCases {
            logger.log(level, "at \(level.name)")
        }
        #expect(sink.events.map(\.level) == [.notice, .warning, .error])
        #expect(sink.events.map(\.message) == ["at notice", "at warning", "at error"])
    }

    @Test(arguments: LogLevel.allCases)
    func aLoggerLogsExactlyItsLevelAndAbove(threshold: LogLevel) {
        let sink = InMemoryLogSink()
        let logger = Logger(label: "sluice.test", level: threshold, sink: sink)
        for level in LogLevel.allCases {
            logger.log(level, "m")
        }
        #expect(sink.events.map(\.level) == LogLevel.allCases.filter { $0 >= threshold })
    }

    @Test func theDefaultLevelIsInfo() {
        let sink = InMemoryLogSink()
        let logger = Logger(label: "sluice.test", sink: sink)
        logger.log(.debug, "hidden")
        logger.log(.info, "shown")
        #expect(sink.events.map(\.message) == ["shown"])
    }

    @Test func levelsAreOrderedAndNamed() {
        #expect(LogLevel.allCases.map(\.name) == ["trace", "debug", "info", "notice", "warning", "error"])
        #expect(LogLevel.allCases.sorted() == LogLevel.allCases)
        #expect(LogLevel.trace < .error)
        #expect(!(LogLevel.warning < .info))
    }

    @Test func withAddsMetadataAndPerCallMetadataOverridesIt() throws {
        let sink = InMemoryLogSink()
        let base = Logger(label: "sluice.test", sink: sink)
        let logger = base.with("stream", "orders").with("shard", "shardId-000000000000")
        logger.log(.info, "appended", ["shard": "shardId-000000000001", "records": "3"])
        let event = try #require(sink.events.first)
        #expect(event.metadata == ["stream": "orders", "shard": "shardId-000000000001", "records": "3"])
        #expect(event.label == "sluice.test")
    }

    @Test func withReturnsACopyAndLeavesTheOriginalAlone() {
        let sink = InMemoryLogSink()
        let base = Logger(label: "sluice.test", sink: sink)
        let derived = base.with("stream", "orders")
        let overridden = derived.with("stream", "payments")
        base.log(.info, "base")
        derived.log(.info, "derived")
        overridden.log(.info, "overridden")
        #expect(sink.events.map(\.metadata) == [[:], ["stream": "orders"], ["stream": "payments"]])
        #expect(base.metadata.isEmpty)
    }

    @Test func theMessageIsNotBuiltWhenTheLevelIsDisabled() {
        let sink = InMemoryLogSink()
        let logger = Logger(label: "sluice.test", level: .warning, sink: sink)
        var evaluations = 0
        func expensive() -> String {
            evaluations += 1
            return "expensive"
        }
        logger.log(.debug, expensive())
        logger.log(.info, expensive())
        #expect(evaluations == 0)
        logger.log(.error, expensive())
        #expect(evaluations == 1)
        #expect(sink.events.map(\.message) == ["expensive"])
    }

    @Test func eventsRecordTheCallSite() {
        let sink = InMemoryLogSink()
        let logger = Logger(label: "sluice.test", sink: sink)
        let line = UInt(#line) + 1
        logger.log(.info, "here")
        let event = sink.events.first
        #expect(event?.file == #fileID)
        #expect(event?.line == line)
    }

    @Test func labelAndLevelCanBeChangedOnACopy() {
        let sink = InMemoryLogSink()
        var logger = Logger(label: "a", sink: sink)
        logger.label = "b"
        logger.level = .trace
        logger.with("k", "v").log(.trace, "t")
        #expect(sink.events.map(\.label) == ["b"])
        #expect(sink.events.map(\.level) == [.trace])
    }
}
