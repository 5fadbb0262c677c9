import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct FileSystemTests {
    let fileSystem = FileSystem.live

    // MARK: - writeAtomically and readFile

    @Test func writeAtomicallyThenReadFileReturnsTheSameBytes() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/state.json"
            let bytes = Array(#"{"shards":4}"#.utf8)
            try fileSystem.writeAtomically(bytes, to: path)
            #expect(try fileSystem.readFile(path) == bytes)
        }
    }

    @Test func writeAtomicallyReplacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/state.json"
            try fileSystem.writeAtomically(Array("a much longer first version".utf8), to: path)
            try fileSystem.writeAtomically(Array("short".utf8), to: path)
            #expect(try fileSystem.readFile(path) == Array("short".utf8))
            #expect(try fileSystem.contentsOfDirectory(directory) == ["state.json"])
        }
    }

    @Test func writeAtomicallyOfNoBytesLeavesAnEmptyFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/empty"
            try fileSystem.writeAtomically(Array("old".utf8), to: path)
            try fileSystem.writeAtomically([], to: path)
            #expect(try fileSystem.readFile(path) == [])
            #expect(try fileSystem.fileSize(path) == 0)
        }
    }

    @Test func writeAtomicallyIntoAMissingDirectoryThrowsNoEntry() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing/state.json"
            let error = try #require(throws: SystemError.self) {
                try fileSystem.writeAtomically([1, 2, 3], to: path)
            }
            #expect(error.errno == Errno.noEntry)
            #expect(error.call == "open")
            #expect(!fileSystem.exists(path))
        }
    }

    @Test func readFileReturnsAMegabyteOfRandomBytesIntact() throws {
        try withTemporaryDirectory { directory in
            var random = SeededRandom(seed: 7)
            let bytes = random.bytes(1 << 20)
            let path = directory + "/big"
            try fileSystem.writeAtomically(bytes, to: path)
            #expect(try fileSystem.readFile(path) == bytes)
            #expect(try fileSystem.fileSize(path) == 1 << 20)
        }
    }

    @Test func readFileOfAMissingFileThrowsNoEntryNamingThePath() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/nope"
            let error = try #require(throws: SystemError.self) { try fileSystem.readFile(path) }
            #expect(error == SystemError(call: "open", errno: Errno.noEntry, path: path))
        }
    }

    // MARK: - open

    @Test func openCreateNewOnAnExistingFileThrowsExistsNamingPathAndCall() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/segment"
            try fileSystem.writeAtomically([1], to: path)
            let error = try #require(throws: SystemError.self) { try fileSystem.open(path, .createNew) }
            #expect(error.errno == Errno.exists)
            #expect(error.call == "open")
            #expect(error.path == path)
            #expect(try fileSystem.readFile(path) == [1])
        }
    }

    @Test func openCreateNewErrorDescriptionNamesPathAndCall() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/segment"
            try fileSystem.writeAtomically([1], to: path)
            let error = try #require(throws: SystemError.self) { try fileSystem.open(path, .createNew) }
            #expect(error.description == "open '\(path)': File exists (EEXIST, errno \(Errno.exists))")
        }
    }

    @Test func openCreateNewCreatesAMissingFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/fresh"
            let handle = try fileSystem.open(path, .createNew)
            defer { handle.close() }
            #expect(handle.path == path)
            #expect(fileSystem.exists(path))
            #expect(try handle.size() == 0)
        }
    }

    @Test func openReadWriteOnAMissingFileThrowsNoEntryAndCreatesNothing() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing"
            let error = try #require(throws: SystemError.self) { try fileSystem.open(path, .readWrite) }
            #expect(error.errno == Errno.noEntry)
            #expect(!fileSystem.exists(path))
        }
    }

    @Test func openReadWriteCreateKeepsExistingContent() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically([1, 2, 3], to: path)
            let handle = try fileSystem.open(path, .readWriteCreate)
            defer { handle.close() }
            #expect(try handle.read(count: 3, at: 0) == [1, 2, 3])
        }
    }

    @Test func openTruncateCreateEmptiesAnExistingFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically([1, 2, 3], to: path)
            let handle = try fileSystem.open(path, .truncateCreate)
            handle.close()
            #expect(try fileSystem.fileSize(path) == 0)
        }
    }

    // MARK: - Directories

    @Test func createDirectoryCreatesMissingIntermediates() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/orders/shard-000000000000/archive"
            try fileSystem.createDirectory(path)
            #expect(fileSystem.isDirectory(directory + "/orders"))
            #expect(fileSystem.isDirectory(directory + "/orders/shard-000000000000"))
            #expect(fileSystem.isDirectory(path))
        }
    }

    @Test func createDirectoryWithATrailingSlashCreatesIt() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.createDirectory(directory + "/a/b/")
            #expect(fileSystem.isDirectory(directory + "/a/b"))
        }
    }

    @Test func createDirectoryOnAnExistingDirectoryIsNotAnError() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/data"
            try fileSystem.createDirectory(path)
            try fileSystem.writeAtomically([9], to: path + "/keep")
            try fileSystem.createDirectory(path)
            try fileSystem.createDirectory(path, intermediates: false)
            #expect(try fileSystem.contentsOfDirectory(path) == ["keep"])
        }
    }

    @Test func createDirectoryWithoutIntermediatesFailsWhenTheParentIsMissing() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing/child"
            let error = try #require(throws: SystemError.self) {
                try fileSystem.createDirectory(path, intermediates: false)
            }
            #expect(error == SystemError(call: "mkdir", errno: Errno.noEntry, path: path))
            #expect(!fileSystem.exists(directory + "/missing"))
        }
    }

    @Test func createDirectoryOverAFileSaysItIsNotADirectory() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically([1], to: path)
            let error = try #require(throws: SystemError.self) { try fileSystem.createDirectory(path) }
            #expect(error == SystemError(call: "mkdir", errno: Errno.notDirectory, path: path))
            #expect(error.description.contains("Not a directory"))
        }
    }

    @Test func contentsOfDirectoryListsFilesAndDirectoriesWithoutDotEntries() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.writeAtomically([1], to: directory + "/00000001.seg")
            try fileSystem.writeAtomically([2], to: directory + "/00000002.seg")
            try fileSystem.createDirectory(directory + "/archive")
            try fileSystem.writeAtomically([3], to: directory + "/archive/inner")
            let names = try fileSystem.contentsOfDirectory(directory)
            #expect(names.sorted() == ["00000001.seg", "00000002.seg", "archive"])
        }
    }

    @Test func contentsOfAnEmptyDirectoryIsEmpty() throws {
        try withTemporaryDirectory { directory in
            let names = try fileSystem.contentsOfDirectory(directory)
            #expect(names == [])
        }
    }

    @Test func contentsOfAMissingDirectoryThrowsNoEntry() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing"
            let error = try #require(throws: SystemError.self) { try fileSystem.contentsOfDirectory(path) }
            #expect(error == SystemError(call: "opendir", errno: Errno.noEntry, path: path))
        }
    }

    @Test func contentsOfDirectoryListsManyEntries() throws {
        try withTemporaryDirectory { directory in
            let expected = (0..<300).map { String(format: "%08d.seg", $0) }
            for name in expected { try fileSystem.writeAtomically([], to: directory + "/" + name) }
            #expect(try fileSystem.contentsOfDirectory(directory).sorted() == expected)
        }
    }

    @Test func removeTreeRemovesNestedDirectoriesAndFiles() throws {
        try withTemporaryDirectory { directory in
            let root = directory + "/orders"
            try fileSystem.createDirectory(root + "/shard-0/archive/deep")
            try fileSystem.createDirectory(root + "/shard-1")
            try fileSystem.writeAtomically([1], to: root + "/meta.json")
            try fileSystem.writeAtomically([2], to: root + "/shard-0/00000001.seg")
            try fileSystem.writeAtomically([3], to: root + "/shard-0/archive/deep/x")
            try fileSystem.writeAtomically([4], to: directory + "/sibling")
            try fileSystem.removeTree(root)
            #expect(!fileSystem.exists(root))
            #expect(try fileSystem.contentsOfDirectory(directory) == ["sibling"])
        }
    }

    @Test func removeTreeOfAMissingPathIsNotAnError() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.removeTree(directory + "/missing")
            try fileSystem.removeTree(directory + "/missing/deeper")
            #expect(fileSystem.isDirectory(directory))
        }
    }

    @Test func removeTreeRemovesASingleFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically([1], to: path)
            try fileSystem.removeTree(path)
            #expect(!fileSystem.exists(path))
        }
    }

    @Test func removeTreeRemovesASymbolicLinkWithoutFollowingIt() throws {
        try withTemporaryDirectory { directory in
            let target = directory + "/target"
            try fileSystem.createDirectory(target)
            try fileSystem.writeAtomically([1], to: target + "/precious")
            let link = directory + "/link"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            try fileSystem.removeTree(link)
            #expect(!fileSystem.exists(link))
            #expect(try fileSystem.readFile(target + "/precious") == [1])
        }
    }

    @Test func removeFileDeletesAFileAndThrowsNoEntryWhenItIsMissing() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically([1], to: path)
            try fileSystem.removeFile(path)
            #expect(!fileSystem.exists(path))
            let error = try #require(throws: SystemError.self) { try fileSystem.removeFile(path) }
            #expect(error == SystemError(call: "unlink", errno: Errno.noEntry, path: path))
        }
    }

    // MARK: - rename

    @Test func renameMovesTheContentAndRemovesTheSource() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.writeAtomically([1, 2], to: directory + "/from")
            try fileSystem.rename(directory + "/from", to: directory + "/to")
            #expect(!fileSystem.exists(directory + "/from"))
            #expect(try fileSystem.readFile(directory + "/to") == [1, 2])
        }
    }

    @Test func renameReplacesAnExistingDestination() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.writeAtomically([1], to: directory + "/from")
            try fileSystem.writeAtomically([7, 7, 7], to: directory + "/to")
            try fileSystem.rename(directory + "/from", to: directory + "/to")
            #expect(try fileSystem.readFile(directory + "/to") == [1])
            #expect(try fileSystem.contentsOfDirectory(directory) == ["to"])
        }
    }

    @Test func renameOfAMissingFileThrowsNoEntryNamingTheSource() throws {
        try withTemporaryDirectory { directory in
            let from = directory + "/missing"
            let error = try #require(throws: SystemError.self) {
                try fileSystem.rename(from, to: directory + "/to")
            }
            #expect(error == SystemError(call: "rename", errno: Errno.noEntry, path: from))
        }
    }

    // MARK: - Synchronisation

    @Test func synchronizeDirectorySucceedsOnARealDirectory() throws {
        try withTemporaryDirectory { directory in
            try fileSystem.writeAtomically([1], to: directory + "/file")
            try fileSystem.synchronizeDirectory(directory)
            try fileSystem.synchronizeDirectory(containing: directory + "/file")
        }
    }

    @Test func synchronizeDirectoryOfAMissingDirectoryThrowsNoEntry() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/missing"
            let error = try #require(throws: SystemError.self) { try fileSystem.synchronizeDirectory(path) }
            #expect(error.errno == Errno.noEntry)
            #expect(error.path == path)
        }
    }

    // MARK: - Queries

    @Test(arguments: [
        ("a/b/c", "a/b"),
        ("c", "."),
        ("", "."),
        ("/a", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a/b", "/a"),
        ("a/b/", "a"),
        ("a/", "."),
        ("/data/orders/", "/data"),
        ("./x", "."),
        ("../x/y", "../x"),
    ])
    func parentOfPath(path: String, expected: String) {
        #expect(FileSystem.parent(of: path) == expected)
    }

    @Test func existsAndIsDirectoryDistinguishFilesDirectoriesAndMissingPaths() throws {
        try withTemporaryDirectory { directory in
            let file = directory + "/file"
            try fileSystem.writeAtomically([1], to: file)
            #expect(fileSystem.exists(directory))
            #expect(fileSystem.isDirectory(directory))
            #expect(fileSystem.exists(file))
            #expect(!fileSystem.isDirectory(file))
            #expect(!fileSystem.exists(directory + "/missing"))
            #expect(!fileSystem.isDirectory(directory + "/missing"))
        }
    }

    @Test func existsSeesADanglingLinkAndIsDirectoryFollowsLinks() throws {
        try withTemporaryDirectory { directory in
            let dangling = directory + "/dangling"
            try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: directory + "/none")
            #expect(fileSystem.exists(dangling))
            #expect(!fileSystem.isDirectory(dangling))
            let toDirectory = directory + "/to-directory"
            try FileManager.default.createSymbolicLink(atPath: toDirectory, withDestinationPath: directory)
            #expect(fileSystem.isDirectory(toDirectory))
        }
    }

    @Test func isWritableDirectoryIsTrueForATemporaryDirectoryAndFalseWhenMissing() throws {
        try withTemporaryDirectory { directory in
            #expect(fileSystem.isWritableDirectory(directory))
            #expect(!fileSystem.isWritableDirectory(directory + "/missing"))
        }
    }

    @Test func fileSizeCountsBytesAndThrowsForAMissingFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/file"
            try fileSystem.writeAtomically(Array(repeating: 0xAB, count: 4097), to: path)
            #expect(try fileSystem.fileSize(path) == 4097)
            let error = try #require(throws: SystemError.self) { try fileSystem.fileSize(directory + "/missing") }
            #expect(error.call == "stat")
            #expect(error.errno == Errno.noEntry)
        }
    }
}
