import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct FileHandleTests {
    let fileSystem = FileSystem.live

    @Test func writesAtOffsetsReadBackAtThoseOffsets() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write(Array("hello".utf8), at: 0)
            try handle.write(Array("world".utf8), at: 10)
            #expect(try handle.size() == 15)
            #expect(try handle.read(count: 5, at: 0) == Array("hello".utf8))
            #expect(try handle.read(count: 5, at: 10) == Array("world".utf8))
            #expect(try handle.read(count: 5, at: 5) == [0, 0, 0, 0, 0])
        }
    }

    @Test func overwritingInTheMiddleKeepsTheRest() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write(Array("ABCDEFGHIJ".utf8), at: 0)
            try handle.write(Array("xyz".utf8), at: 4)
            #expect(try handle.read(count: 10, at: 0) == Array("ABCDxyzHIJ".utf8))
        }
    }

    @Test func writeFromARawBufferWritesEveryByte() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            var random = SeededRandom(seed: 42)
            let bytes = random.bytes(70_000)
            try bytes.withUnsafeBytes { try handle.write($0, at: 3) }
            #expect(try handle.size() == 70_003)
            #expect(try handle.read(count: 70_000, at: 3) == bytes)
        }
    }

    @Test func readPastTheEndReturnsAShortCount() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write(Array(0..<10), at: 0)
            #expect(try handle.read(count: 8, at: 6) == [6, 7, 8, 9])
            #expect(try handle.read(count: 8, at: 10) == [])
            #expect(try handle.read(count: 8, at: 1000) == [])
        }
    }

    @Test func readIntoABufferReturnsTheNumberOfBytesRead() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write(Array(0..<10), at: 0)
            var buffer = [UInt8](repeating: 0xFF, count: 6)
            let count = try buffer.withUnsafeMutableBytes { try handle.read(into: $0, at: 7) }
            #expect(count == 3)
            #expect(buffer == [7, 8, 9, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test func readOfZeroBytesReturnsAnEmptyArray() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write([1, 2, 3], at: 0)
            #expect(try handle.read(count: 0, at: 1) == [])
        }
    }

    @Test func truncateShrinksAndExtendsWithZeros() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write(Array("ABCDEFGHIJ".utf8), at: 0)
            try handle.truncate(to: 3)
            #expect(try handle.size() == 3)
            #expect(try handle.read(count: 10, at: 0) == Array("ABC".utf8))
            try handle.truncate(to: 6)
            #expect(try handle.size() == 6)
            #expect(try handle.read(count: 10, at: 0) == Array("ABC".utf8) + [0, 0, 0])
        }
    }

    @Test func sizeOfANewFileIsZeroAndFollowsWrites() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            #expect(try handle.size() == 0)
            try handle.write([1], at: 0)
            #expect(try handle.size() == 1)
            try handle.write([], at: 100)
            #expect(try handle.size() == 1)
            try handle.write([1], at: 4095)
            #expect(try handle.size() == 4096)
        }
    }

    @Test func dataWrittenThroughOneHandleIsVisibleThroughAnother() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/segment"
            let writer = try fileSystem.open(path, .createNew)
            defer { writer.close() }
            try writer.write(Array("record".utf8), at: 0)
            try writer.synchronizeData()
            try writer.synchronize()
            let reader = try fileSystem.open(path, .readOnly)
            defer { reader.close() }
            #expect(try reader.read(count: 100, at: 0) == Array("record".utf8))
        }
    }

    @Test func writeThroughAReadOnlyHandleThrowsNamingPwrite() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/segment"
            try fileSystem.writeAtomically([1, 2, 3], to: path)
            let handle = try fileSystem.open(path, .readOnly)
            defer { handle.close() }
            let error = try #require(throws: SystemError.self) { try handle.write([9], at: 0) }
            #expect(error == SystemError(call: "pwrite", errno: EBADF, path: path))
            #expect(try handle.read(count: 3, at: 0) == [1, 2, 3])
        }
    }

    @Test func readThroughAWriteOnlyHandleThrowsNamingPread() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/segment"
            let handle = try fileSystem.open(path, .truncateCreate)
            defer { handle.close() }
            let error = try #require(throws: SystemError.self) { try handle.read(count: 1, at: 0) }
            #expect(error == SystemError(call: "pread", errno: EBADF, path: path))
        }
    }

    @Test func concurrentWritesAtDisjointOffsetsAllLand() throws {
        try withTemporaryDirectory { directory in
            let handle = try fileSystem.open(directory + "/segment", .createNew)
            defer { handle.close() }
            let chunk = 4096
            let chunks = 64
            DispatchQueue.concurrentPerform(iterations: chunks) { index in
                let bytes = [UInt8](repeating: UInt8(index), count: chunk)
                try? handle.write(bytes, at: Int64(index * chunk))  // checked by reading back below
            }
            let all = try handle.read(count: chunk * chunks, at: 0)
            #expect(all.count == chunk * chunks)
            for index in 0..<chunks {
                #expect(all[index * chunk..<(index + 1) * chunk].allSatisfy { $0 == UInt8(index) })
            }
        }
    }
}
