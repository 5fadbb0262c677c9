import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite("Parallel gzip")
struct ParallelGzipTests {
    private func write(_ pieces: [[UInt8]], level: Int = 6, chunkSize: Int = 4096, pool: CompressionPool, in directory: String, name: String) throws -> [UInt8] {
        let path = directory + "/" + name
        let writer = ParallelGzipFileWriter(
            handle: try FileSystem.live.open(path, .truncateCreate), level: level, pool: pool, chunkSize: chunkSize, maximumInFlight: 3)
        for piece in pieces { try writer.append(piece) }
        try writer.finish()
        try writer.synchronize()
        #expect(writer.uncompressedBytes == pieces.reduce(0) { $0 + $1.count })
        #expect(writer.writtenBytes == Int(try FileSystem.live.fileSize(path)))
        writer.close()
        return try FileSystem.live.readFile(path)
    }

    @Test func outputIsOneStandardGzipMemberOfTheInput() throws {
        let pool = CompressionPool(threads: 2)
        defer { pool.shutdown() }
        try withTemporaryDirectory { directory in
            var random = SeededRandom(seed: 7)
            var pieces: [[UInt8]] = []
            for index in 0..<3000 {
                let length = Int.random(in: 0...300, using: &random)
                pieces.append(Array("{\"n\":\(index),\"pad\":\"\(String(repeating: "x", count: length))\"}\n".utf8))
            }
            pieces.append((0..<70_000).map { _ in UInt8.random(in: 0...255, using: &random) })  // incompressible, spans chunks
            let bytes = try write(pieces, pool: pool, in: directory, name: "a.gz")
            let expected = pieces.flatMap { $0 }
            #expect(try Gzip.decompress(bytes, maximumOutput: 1 << 30) == expected)
            var decoder = GzipDecoder()
            var out: [UInt8] = []
            try decoder.decompress(bytes, into: &out)
            try decoder.finish()
            #expect(decoder.memberCount == 1)
            // The system's gzip agrees (CRC and length in the trailer).
            let gzip = Process()
            gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
            gzip.arguments = ["-t", directory + "/a.gz"]
            try gzip.run()
            gzip.waitUntilExit()
            #expect(gzip.terminationStatus == 0)
        }
    }

    @Test func sameInputGivesTheSameBytesAndCompressesLikeOneStream() throws {
        let pool = CompressionPool(threads: 2)
        defer { pool.shutdown() }
        try withTemporaryDirectory { directory in
            let lines = (0..<20_000).map { Array("{\"event\":\"page_view\",\"user\":\"u_\($0 % 97)\",\"n\":\($0)}\n".utf8) }
            let first = try write(lines, chunkSize: 64 << 10, pool: pool, in: directory, name: "1.gz")
            let second = try write(lines, chunkSize: 64 << 10, pool: pool, in: directory, name: "2.gz")
            #expect(first == second)
            // Priming each chunk with the previous 32 KiB keeps the ratio of a single stream.
            let single = Gzip.compress(lines.flatMap { $0 }, level: 6)
            #expect(Double(first.count) < Double(single.count) * 1.02)
        }
    }

    @Test func emptyAndTinyFiles() throws {
        let pool = CompressionPool(threads: 1)
        defer { pool.shutdown() }
        try withTemporaryDirectory { directory in
            let empty = try write([], pool: pool, in: directory, name: "e.gz")
            #expect(try Gzip.decompress(empty, maximumOutput: 10).isEmpty)
            let tiny = try write([[65]], pool: pool, in: directory, name: "t.gz")
            #expect(try Gzip.decompress(tiny, maximumOutput: 10) == [65])
            let exact = [UInt8](repeating: 66, count: 4096 * 3)
            let whole = try write([exact], level: 1, pool: pool, in: directory, name: "x.gz")
            #expect(try Gzip.decompress(whole, maximumOutput: 1 << 20) == exact)
        }
    }

    @Test func aWriteFailureIsReportedAndSticks() throws {
        let pool = CompressionPool(threads: 1)
        defer { pool.shutdown() }
        try withTemporaryDirectory { directory in
            let faults = FaultPlan()
            let path = directory + "/f.gz"
            let writer = ParallelGzipFileWriter(
                handle: try FileSystem(faults: faults).open(path, .truncateCreate), level: 6, pool: pool, chunkSize: 1024, maximumInFlight: 1)
            faults.inject(.write, pathContains: "f.gz", fault: Fault(errno: ENOSPC), times: nil)
            #expect(throws: SystemError.self) {
                for _ in 0..<100 { try writer.append([UInt8](repeating: 1, count: 1000)) }
                try writer.finish()
            }
            #expect(throws: SystemError.self) { try writer.synchronize() }
            writer.close()
        }
    }
}
