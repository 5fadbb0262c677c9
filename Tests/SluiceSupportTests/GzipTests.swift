import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite(.timeLimit(.minutes(2))) struct GzipTests {
    // MARK: - Fixtures

    /// `count` pseudo-random (incompressible) bytes, fast even in debug builds.
    private static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        let words = (0..<(count + 7) / 8).map { _ in random.next() }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }

    /// `count` bytes of log-like text: compresses well but not trivially.
    private static func compressibleBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 200)
        let words = ["orders", "payments", "refund", "shipped", "eu-west-1", "status", "ok", "retry", "customer"]
        while bytes.count < count {
            let line =
                "{\"id\":\(random.next() % 100_000),\"event\":\"\(words[Int(random.next() % 9)])\","
                + "\"region\":\"\(words[Int(random.next() % 9)])\",\"amount\":\(random.next() % 1000)}\n"
            bytes.append(contentsOf: line.utf8)
        }
        return Array(bytes.prefix(count))
    }

    /// Decompresses with the streaming decoder, fed in chunks of the given sizes (cycled).
    private static func decodeInChunks(_ data: [UInt8], chunkSizes: [Int]) throws(GzipError) -> [UInt8] {
        var decoder = GzipDecoder()
        var output: [UInt8] = []
        var offset = 0
        var index = 0
        while offset < data.count {
            let end = min(data.count, offset + chunkSizes[index % chunkSizes.count])
            try decoder.decompress(Array(data[offset..<end]), into: &output)
            offset = end
            index += 1
        }
        try decoder.finish()
        return output
    }

    // MARK: - Round trips

    @Test(arguments: [0, 1, 2, 100, 16_383, 16_384, 65_537, 300_000])
    func oneShotRoundTripOfRandomAndCompressibleBytes(count: Int) throws {
        for input in [GzipTests.randomBytes(count, seed: UInt64(count)), GzipTests.compressibleBytes(count, seed: 7)] {
            let compressed = Gzip.compress(input, level: 6)
            #expect(compressed.starts(with: [0x1F, 0x8B, 0x08]))
            #expect(try Gzip.decompress(compressed, maximumOutput: count) == input)
        }
    }

    @Test func emptyInputCompressesToAValidEmptyMember() throws {
        let compressed = Gzip.compress([], level: 9)
        #expect(compressed.count == 20)  // 10-byte header, empty final block, 8-byte trailer
        #expect(try Gzip.decompress(compressed, maximumOutput: 0) == [])
    }

    @Test func tenMegabytesRoundTripThroughTheStreamingEncoderAndDecoder() throws {
        let size = 10 << 20
        for (name, input) in [
            ("random", GzipTests.randomBytes(size, seed: 1)),
            ("compressible", GzipTests.compressibleBytes(size, seed: 2)),
        ] {
            var encoder = GzipEncoder(level: 6)
            var compressed: [UInt8] = []
            var offset = 0
            var random = SeededRandom(seed: 3)
            while offset < input.count {
                let end = min(input.count, offset + Int(random.next() % 200_000) + 1)
                input[offset..<end].withUnsafeBytes { encoder.compress($0, into: &compressed) }
                offset = end
            }
            encoder.finish(into: &compressed)
            let counts = (uncompressed: encoder.uncompressedCount, compressed: encoder.compressedCount)
            #expect(counts.uncompressed == size, "\(name)")
            #expect(counts.compressed == compressed.count, "\(name)")
            if name == "compressible" { #expect(compressed.count < size / 4) }
            #expect(try GzipTests.decodeInChunks(compressed, chunkSizes: [65_536, 1, 7_777]) == input, "\(name)")
            #expect(try Gzip.decompress(compressed, maximumOutput: size) == input, "\(name)")
        }
    }

    @Test func manySmallAppendsRoundTripAndProduceOutputOnlyNowAndThen() throws {
        var random = SeededRandom(seed: 11)
        var encoder = GzipEncoder(level: 6)
        var compressed: [UInt8] = []
        var expected: [UInt8] = []
        var callsThatProducedOutput = 0
        let records = 20_000
        for index in 0..<records {
            let record =
                Array("record \(index) ".utf8)
                + GzipTests.compressibleBytes(Int(random.next() % 900) + 100, seed: UInt64(index % 50))
            expected += record
            let before = compressed.count
            encoder.compress(record, into: &compressed)
            if compressed.count > before { callsThatProducedOutput += 1 }
        }
        encoder.finish(into: &compressed)
        #expect(
            callsThatProducedOutput < records / 20,
            "zlib should buffer small appends, got output on \(callsThatProducedOutput) calls")
        let uncompressedCount = encoder.uncompressedCount
        #expect(uncompressedCount == expected.count)
        #expect(try Gzip.decompress(compressed, maximumOutput: expected.count) == expected)
    }

    @Test func finishTwiceAddsNothing() throws {
        var encoder = GzipEncoder(level: 1)
        var output: [UInt8] = []
        encoder.compress(Array("hello".utf8), into: &output)
        encoder.finish(into: &output)
        let count = output.count
        encoder.finish(into: &output)
        #expect(output.count == count)
        let finished = encoder.isFinished
        #expect(finished)
        #expect(try Gzip.decompress(output, maximumOutput: 5) == Array("hello".utf8))
    }

    @Test func levelOneAndLevelNineDifferInSizeOnCompressibleData() throws {
        let input = GzipTests.compressibleBytes(1 << 20, seed: 5)
        let fast = Gzip.compress(input, level: 1)
        let best = Gzip.compress(input, level: 9)
        #expect(best.count < fast.count)
        #expect(try Gzip.decompress(fast, maximumOutput: input.count) == input)
        #expect(try Gzip.decompress(best, maximumOutput: input.count) == input)
    }

    // MARK: - Multi-member

    @Test func concatenatedMembersDecodeToTheConcatenationLikeZcat() throws {
        let first = Array("first member\n".utf8)
        let second = GzipTests.compressibleBytes(100_000, seed: 9)
        let data = Gzip.compress(first, level: 1) + Gzip.compress([], level: 6) + Gzip.compress(second, level: 9)
        #expect(try Gzip.decompress(data, maximumOutput: .max) == first + second)
        // Byte by byte across every member boundary, and in odd chunks.
        #expect(try GzipTests.decodeInChunks(data, chunkSizes: [1]) == first + second)
        #expect(try GzipTests.decodeInChunks(data, chunkSizes: [3, 1000, 17]) == first + second)

        var decoder = GzipDecoder()
        var output: [UInt8] = []
        try decoder.decompress(data, into: &output)
        try decoder.finish()
        let counts = (members: decoder.memberCount, consumed: decoder.consumedCount, produced: decoder.producedCount)
        #expect(counts.members == 3)
        #expect(counts.consumed == data.count)
        #expect(counts.produced == first.count + second.count)
    }

    @Test func theCallbackVariantHandsOutBoundedPieces() throws {
        let input = [UInt8](repeating: 0x61, count: 5 << 20)
        let compressed = Gzip.compress(input, level: 9)
        var decoder = GzipDecoder()
        var total = 0
        var largest = 0
        var failure: GzipError?
        var allAs = true
        compressed.withUnsafeBytes { buffer in
            do throws(GzipError) {
                try decoder.decompress(buffer) { piece in
                    total += piece.count
                    largest = max(largest, piece.count)
                    allAs = allAs && piece.allSatisfy { $0 == 0x61 }
                }
            } catch {
                failure = error
            }
        }
        #expect(failure == nil)
        #expect(allAs)
        try decoder.finish()
        #expect(total == input.count)
        #expect(largest <= 64 << 10)
    }

    // MARK: - Errors

    @Test(arguments: ["plain text, not gzip", "x", "PK\u{3}\u{4} a zip file"])
    func nonGzipInputIsRejectedAsNotGzip(text: String) {
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(Array(text.utf8), maximumOutput: 1000) }
        #expect(error == .notGzip(offset: 0))
        #expect(error?.description.contains("not gzip") == true)
    }

    @Test func aGzipMagicWithAnUnknownMethodIsNotGzip() {
        var data = Gzip.compress(Array("hello".utf8), level: 6)
        data[2] = 7  // compression method other than deflate
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(data, maximumOutput: 1000) }
        #expect(error == .notGzip(offset: 0))
    }

    @Test func trailingBytesAfterAMemberAreReportedAtTheirOffset() {
        let member = Gzip.compress(Array("hello".utf8), level: 6)
        let error = #expect(throws: GzipError.self) {
            try Gzip.decompress(member + Array("garbage".utf8), maximumOutput: 1000)
        }
        #expect(error == .notGzip(offset: member.count))
        #expect(error?.description.contains("trailing") == true)
    }

    @Test func emptyInputIsTruncated() {
        let error = #expect(throws: GzipError.self) { try Gzip.decompress([], maximumOutput: 1000) }
        #expect(error == .truncated(inputBytes: 0, memberOffset: 0))
        #expect(error?.description.contains("empty") == true)
    }

    @Test func everyProperPrefixOfAMemberIsTruncated() {
        let member = Gzip.compress(GzipTests.compressibleBytes(3000, seed: 4), level: 6)
        for length in 1..<member.count {
            let error = #expect(throws: GzipError.self, "prefix of \(length) bytes") {
                try Gzip.decompress(Array(member.prefix(length)), maximumOutput: 1 << 20)
            }
            #expect(error == .truncated(inputBytes: length, memberOffset: 0), "prefix of \(length) bytes")
        }
    }

    @Test func aSecondMemberCutShortIsTruncatedAtItsOffset() {
        let first = Gzip.compress(Array("one".utf8), level: 6)
        let second = Gzip.compress(Array("two".utf8), level: 6)
        let data = first + second.prefix(second.count - 3)
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(data, maximumOutput: 100) }
        #expect(error == .truncated(inputBytes: data.count, memberOffset: first.count))
        #expect(error?.description.contains("truncated") == true)
    }

    @Test func aWrongCRCIsAChecksumMismatch() {
        var data = Gzip.compress(Array("hello, world".utf8), level: 6)
        data[data.count - 8] ^= 0xFF  // first byte of the CRC-32 in the trailer
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(data, maximumOutput: 100) }
        #expect(error == .checksumMismatch(member: 1, crc32: true))
        #expect(error?.description.contains("CRC-32") == true)
    }

    @Test func aWrongLengthInTheSecondMemberIsAChecksumMismatchNamingIt() {
        var data = Gzip.compress(Array("one".utf8), level: 6) + Gzip.compress(Array("two".utf8), level: 6)
        data[data.count - 4] ^= 0x01  // ISIZE of the second member
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(data, maximumOutput: 100) }
        #expect(error == .checksumMismatch(member: 2, crc32: false))
    }

    @Test func damagedDeflateDataIsCorruptOrFailsItsChecksum() {
        let input = GzipTests.compressibleBytes(50_000, seed: 8)
        let member = Gzip.compress(input, level: 6)
        var random = SeededRandom(seed: 21)
        for _ in 0..<50 {
            var data = member
            // Inside the deflate data, but not its last byte (whose padding bits do not matter).
            let index = 10 + Int(random.next() % UInt64(member.count - 19))
            data[index] ^= UInt8(1 << (random.next() % 8))
            let error = #expect(throws: GzipError.self, "flip at \(index)") {
                try Gzip.decompress(data, maximumOutput: 1 << 20)
            }
            switch error {
            case .corrupt, .checksumMismatch, .truncated, .outputLimitExceeded: break
            case .notGzip, .none: Issue.record("unexpected \(String(describing: error)) for a flip at \(index)")
            }
        }
    }

    @Test func outputBeyondTheLimitIsRefusedAndTheExactLimitIsAccepted() throws {
        let input = [UInt8](repeating: 0, count: 1 << 20)
        let bomb = Gzip.compress(input, level: 9)
        #expect(bomb.count < 2000)
        let error = #expect(throws: GzipError.self) { try Gzip.decompress(bomb, maximumOutput: 1000) }
        #expect(error == .outputLimitExceeded(limit: 1000))
        #expect(error?.description.contains("1000") == true)
        #expect(try Gzip.decompress(bomb, maximumOutput: input.count) == input)
        #expect(throws: GzipError.outputLimitExceeded(limit: input.count - 1)) {
            try Gzip.decompress(bomb, maximumOutput: input.count - 1)
        }
    }

    @Test func eachErrorHasItsOwnDescription() {
        let errors: [GzipError] = [
            .notGzip(offset: 0), .notGzip(offset: 10), .truncated(inputBytes: 0, memberOffset: 0),
            .truncated(inputBytes: 5, memberOffset: 0), .checksumMismatch(member: 1, crc32: true),
            .checksumMismatch(member: 1, crc32: false), .corrupt(offset: 3, reason: "invalid block type"),
            .outputLimitExceeded(limit: 10),
        ]
        let descriptions = errors.map(\.description)
        #expect(Set(descriptions).count == errors.count)
        #expect(descriptions.allSatisfy { $0.count > 40 })
    }

    @Test func aDecoderThatFailedKeepsFailing() {
        var decoder = GzipDecoder()
        var output: [UInt8] = []
        #expect(throws: GzipError.notGzip(offset: 0)) { try decoder.decompress(Array("nope".utf8), into: &output) }
        let member = Gzip.compress(Array("fine".utf8), level: 6)
        #expect(throws: GzipError.notGzip(offset: 0)) { try decoder.decompress(member, into: &output) }
        #expect(throws: GzipError.notGzip(offset: 0)) { try decoder.finish() }
    }

    // MARK: - GzipFileWriter

    @Test func writerOutputPassesGzipTestAndZcat() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/batch.gz"
            let writer = GzipFileWriter(
                handle: try FileSystem.live.open(path, .createNew), level: 6, bufferCapacity: 8192)
            var expected: [UInt8] = []
            var random = SeededRandom(seed: 12)
            for index in 0..<5_000 {
                let record =
                    Array("{\"n\":\(index)}".utf8)
                    + GzipTests.compressibleBytes(Int(random.next() % 500) + 50, seed: UInt64(index))
                try writer.append(record)
                expected += record
            }
            try writer.finish()
            try writer.synchronize()
            #expect(writer.uncompressedBytes == expected.count)
            #expect(writer.bufferedBytes == 0)
            #expect(Int64(writer.writtenBytes) == (try FileSystem.live.fileSize(path)))
            writer.close()

            let test = try GzipTests.runTool(GzipTests.gzipPath, ["-t", path])
            #expect(test.status == 0, "gzip -t failed: \(test.stderr)")
            let zcat = try GzipTests.runTool(GzipTests.zcatPath, [path])
            #expect(zcat.status == 0, "zcat failed: \(zcat.stderr)")
            #expect(zcat.stdout == expected)
            #expect(try Gzip.decompress(try FileSystem.live.readFile(path), maximumOutput: expected.count) == expected)
        }
    }

    @Test func systemGzipOutputDecodesWithGzipDecompress() throws {
        try withTemporaryDirectory { directory in
            let input = GzipTests.compressibleBytes(200_000, seed: 13)
            let path = directory + "/plain"
            try FileSystem.live.writeAtomically(input, to: path)
            let first = try GzipTests.runTool(GzipTests.gzipPath, ["-c", "-9", path])
            let second = try GzipTests.runTool(GzipTests.gzipPath, ["-c", "-1", path])
            #expect(first.status == 0 && second.status == 0)
            #expect(try Gzip.decompress(first.stdout + second.stdout, maximumOutput: .max) == input + input)
        }
    }

    @Test func writerWithoutCompressionWritesTheBytesAsTheyAre() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/batch.json"
            let writer = GzipFileWriter(
                handle: try FileSystem.live.open(path, .createNew), level: nil, bufferCapacity: 1000)
            var expected: [UInt8] = []
            var random = SeededRandom(seed: 14)
            for size in [0, 1, 999, 1000, 1001, 5000, 3, 2500] {
                let record = GzipTests.randomBytes(size, seed: random.next())
                try writer.append(record)
                expected += record
                #expect(writer.bufferedBytes < 1000)
                #expect(writer.writtenBytes + writer.bufferedBytes == expected.count)
            }
            try writer.finish()
            try writer.finish()  // idempotent
            #expect(writer.writtenBytes == expected.count)
            writer.close()
            writer.close()  // idempotent
            #expect(try FileSystem.live.readFile(path) == expected)
        }
    }

    @Test func writerWritesToTheFileBeforeFinishOnceTheBufferFills() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/batch.gz"
            let capacity = 4096
            let writer = GzipFileWriter(
                handle: try FileSystem.live.open(path, .createNew), level: 1, bufferCapacity: capacity)
            #expect(writer.bufferCapacity == capacity)
            let input = GzipTests.randomBytes(100_000, seed: 15)  // incompressible: output ≈ input
            var offset = 0
            while offset < input.count {
                let end = min(input.count, offset + 700)
                try input[offset..<end].withUnsafeBytes { try writer.append($0) }
                offset = end
                #expect(writer.bufferedBytes < capacity)
                #expect(Int64(writer.writtenBytes) == (try FileSystem.live.fileSize(path)))
            }
            // Nearly everything is on disk already; at most one buffer (plus zlib's pending block) is not.
            #expect(writer.writtenBytes > 0)
            #expect(writer.writtenBytes % capacity == 0)
            #expect(writer.writtenBytes >= input.count - 64 * 1024)
            try writer.finish()
            #expect(try Gzip.decompress(try FileSystem.live.readFile(path), maximumOutput: input.count) == input)
        }
    }

    @Test func writerSurfacesENOSPCFromAnAppendAndStaysFailed() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let path = directory + "/batch.gz"
            let writer = GzipFileWriter(
                handle: try FileSystem(faults: plan).open(path, .createNew), level: 6, bufferCapacity: 1024)
            defer { writer.close() }
            try writer.append(Array("before the disk filled up".utf8))
            plan.inject(.write, pathContains: "batch.gz", fault: Fault(errno: Errno.noSpace))
            let random = GzipTests.randomBytes(50_000, seed: 16)
            let error = try #require(throws: SystemError.self) { try writer.append(random) }
            #expect(error == SystemError(call: "pwrite", errno: Errno.noSpace, path: path))
            // The file's tail is unknown now: every later call reports the same failure.
            #expect(throws: error) { try writer.append([1, 2, 3]) }
            #expect(throws: error) { try writer.finish() }
            #expect(throws: error) { try writer.synchronize() }
        }
    }

    @Test func writerSurfacesAFailureOfTheFinalWriteInFinish() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let path = directory + "/batch.gz"
            let writer = GzipFileWriter(handle: try FileSystem(faults: plan).open(path, .createNew), level: 9)
            defer { writer.close() }
            try writer.append(Array("small enough to stay in the buffer".utf8))
            #expect(writer.writtenBytes == 0)
            plan.inject(.write, fault: Fault(errno: Errno.io, bytesWritten: 5))
            let error = try #require(throws: SystemError.self) { try writer.finish() }
            #expect(error.errno == Errno.io)
            #expect(error.isStorageFailure)
            #expect(throws: error) { try writer.finish() }
        }
    }

    @Test func writerSurfacesASyncFailure() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let path = directory + "/batch"
            let writer = GzipFileWriter(handle: try FileSystem(faults: plan).open(path, .createNew), level: nil)
            defer { writer.close() }
            try writer.append([1, 2, 3])
            plan.inject(.sync, fault: Fault(errno: Errno.io))
            let error = try #require(throws: SystemError.self) { try writer.synchronize() }
            #expect(error == SystemError(call: "fdatasync", errno: Errno.io, path: path))
            // The bytes were written before the sync failed.
            #expect(try FileSystem.live.readFile(path) == [1, 2, 3])
        }
    }

    // MARK: - System tools

    private static let gzipPath =
        FileManager.default.isExecutableFile(atPath: "/bin/gzip") ? "/bin/gzip" : "/usr/bin/gzip"
    private static let zcatPath =
        FileManager.default.isExecutableFile(atPath: "/bin/zcat") ? "/bin/zcat" : "/usr/bin/zcat"

    /// Runs a system tool to completion and returns its exit status and output.
    private static func runTool(_ tool: String, _ arguments: [String]) throws -> (
        status: Int32, stdout: [UInt8], stderr: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = Foundation.FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(stdout), String(decoding: stderr, as: UTF8.self))
    }
}
