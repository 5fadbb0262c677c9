import SluicePipelines
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct DecompressProcessorTests {
    private let processor = DecompressProcessor()

    /// The failure's message after checking its code.
    private func failure(_ processor: DecompressProcessor, _ data: [UInt8], code: String = "Decompression.InvalidGzip")
        throws -> String
    {
        guard case .processingFailed(let actual, let message) = processor.verdict(for: data) else {
            Issue.record("expected .processingFailed, got \(processor.verdict(for: data))")
            throw CancellationError()
        }
        #expect(actual == code)
        return message
    }

    /// A CloudWatch Logs subscription message, as the service sends it (gzip of JSON).
    private static let cloudWatchMessage =
        Array(
            #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","#
                .utf8) + Array(#""logStream":"s","subscriptionFilters":["all"],"logEvents":[]}"#.utf8)

    @Test func roundTrip() {
        var random = SeededRandom(seed: 9)
        for payload in [Self.cloudWatchMessage, [], random.bytes(100_000)] {
            #expect(processor.verdict(for: Gzip.compress(payload)) == .ok(data: payload, partitionKeys: [:]))
        }
    }

    @Test func concatenatedMembersAreReadLikeZcat() {
        let data = Gzip.compress(Array("first,".utf8)) + Gzip.compress(Array("second".utf8), level: 1)
        #expect(processor.verdict(for: data) == .ok(data: Array("first,second".utf8), partitionKeys: [:]))
    }

    @Test func aBatchGetsOneVerdictPerRecordID() throws {
        let batch = [Gzip.compress([1, 2]), [9, 9, 9]].enumerated().map { index, data in
            ProcessorRecord(
                recordID: "r\(index)", data: data, approximateArrival: Timestamp(milliseconds: 0), sourceStream: "logs",
                shardID: "shardId-000000000000", sequenceNumber: "\(index)", partitionKey: "p")
        }
        let results = try processor.process(batch)
        #expect(results.map(\.recordID) == ["r0", "r1"])
        #expect(results[0].verdict == .ok(data: [1, 2], partitionKeys: [:]))
        guard case .processingFailed("Decompression.InvalidGzip", _) = results[1].verdict else {
            Issue.record("expected a failure, got \(results[1].verdict)")
            return
        }
    }

    // MARK: - Failures

    @Test func notGzipFails() throws {
        let message = try failure(processor, Array(#"{"plain":true}"#.utf8))
        #expect(message.contains("not gzip"))
        #expect(message.contains("starts with 7b 22 70 6c"))
        #expect(try failure(processor, []).contains("empty"))
    }

    @Test func truncatedGzipFails() throws {
        let whole = Gzip.compress(Array(repeating: 0x41, count: 1000))
        for cut in [1, 10, whole.count - 1] {
            let message = try failure(processor, Array(whole.prefix(cut)))
            #expect(message.contains("truncated"), "\(message)")
            #expect(message.contains("ends after \(cut) bytes"), "\(message)")
        }
    }

    @Test func corruptGzipFails() throws {
        var data = Gzip.compress(Array("hello, world".utf8))
        data[data.count - 8] ^= 0xFF  // the CRC-32
        #expect(try failure(processor, data).contains("CRC-32"))
    }

    @Test func bytesAfterAMemberFail() throws {
        let data = Gzip.compress(Array("ok".utf8)) + Array("junk".utf8)
        let message = try failure(processor, data)
        #expect(message.contains("4 bytes that are not gzip at offset \(data.count - 4)"))
    }

    @Test func overTheLimitFails() throws {
        let small = try DecompressProcessor(parameters: ["maximumBytes": "1000"])
        #expect(
            small.verdict(for: Gzip.compress(Array(repeating: 7, count: 1000)))
                == .ok(data: Array(repeating: 7, count: 1000), partitionKeys: [:]))
        let bomb = Gzip.compress(Array(repeating: 0, count: 1_000_000))
        let message = try failure(small, bomb, code: "Decompression.OutputLimitExceeded")
        #expect(message.contains("more than 1000 bytes"))
        #expect(message.contains("maximumBytes"))
    }

    // MARK: - Configuration

    @Test func theRegistryBuildsItWithDefaults() throws {
        let type = try #require(ProcessorRegistry.type(named: "decompress"))
        #expect(type.parameters == ["format", "maximumBytes"])
        let built = try type.make([:])
        let results = try built.process([
            ProcessorRecord(
                recordID: "1", data: Gzip.compress([5]), approximateArrival: Timestamp(milliseconds: 0),
                sourceStream: "s", shardID: "shardId-000000000000", sequenceNumber: "1", partitionKey: "p")
        ])
        #expect(results.map(\.verdict) == [.ok(data: [5], partitionKeys: [:])])
        #expect(try DecompressProcessor(parameters: [:]).maximumBytes == 16 << 20)
        #expect(try DecompressProcessor(parameters: ["format": "GZIP"]).maximumBytes == 16 << 20)
        #expect(try DecompressProcessor(parameters: ["maximumBytes": "1073741824"]).maximumBytes == 1 << 30)
    }

    @Test func anUnknownFormatIsAnError() {
        let error = #expect(throws: ProcessorConfigurationError.self) {
            try DecompressProcessor(parameters: ["format": "zstd"])
        }
        #expect(error?.parameter == "format")
        #expect(error?.message.contains("only gzip") == true)
    }

    @Test(arguments: ["0", "-1", "1.5", "16MB", "", " 10", "1073741825", "99999999999999999999999"])
    func aBadMaximumIsAnError(value: String) {
        let error = #expect(throws: ProcessorConfigurationError.self) {
            try DecompressProcessor(parameters: ["maximumBytes": value])
        }
        #expect(error?.parameter == "maximumBytes")
        #expect(error?.message.contains("whole number of bytes from 1 to 1073741824") == true)
    }
}
