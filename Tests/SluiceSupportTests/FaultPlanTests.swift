import Foundation
import SluiceSupport
import SluiceTestSupport
import Testing

@Suite struct FaultPlanTests {
    // MARK: - Writes

    @Test func writeFaultThrowsNoSpaceNamingPwriteAndWritesNothing() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.noSpace))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            let error = try #require(throws: SystemError.self) { try handle.write(Array("payload".utf8), at: 0) }
            #expect(error == SystemError(call: "pwrite", errno: Errno.noSpace, path: path))
            #expect(error.isStorageFailure)
            #expect(try handle.size() == 0)
        }
    }

    @Test func tornWriteLeavesExactlyTheGivenNumberOfBytes() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.io, bytesWritten: 5))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            let bytes = Array("0123456789abcdef".utf8)
            let error = try #require(throws: SystemError.self) { try handle.write(bytes, at: 0) }
            #expect(error.errno == Errno.io)
            #expect(try FileSystem.live.readFile(path) == Array(bytes.prefix(5)))
        }
    }

    @Test func tornWriteAtAnOffsetOverwritesOnlyItsPrefix() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            try handle.write(Array("ABCDEFGHIJ".utf8), at: 0)
            plan.inject(.write, fault: Fault(errno: Errno.noSpace, bytesWritten: 3))
            #expect(throws: SystemError.self) { try handle.write(Array("xxxxxxxx".utf8), at: 2) }
            #expect(try FileSystem.live.readFile(path) == Array("ABxxxFGHIJ".utf8))
        }
    }

    @Test func tornWriteLongerThanTheBufferWritesTheWholeBufferAndStillThrows() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.io, bytesWritten: 100))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            #expect(throws: SystemError.self) { try handle.write([1, 2, 3, 4], at: 0) }
            #expect(try FileSystem.live.readFile(path) == [1, 2, 3, 4])
        }
    }

    // MARK: - Matching rules

    @Test func afterLetsThatManyMatchingOperationsSucceedFirst() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.noSpace), after: 2)
            let handle = try FileSystem(faults: plan).open(directory + "/segment", .createNew)
            defer { handle.close() }
            try handle.write([1], at: 0)
            try handle.write([2], at: 1)
            #expect(throws: SystemError.self) { try handle.write([3], at: 2) }
            try handle.write([4], at: 2)
            #expect(try handle.read(count: 10, at: 0) == [1, 2, 4])
        }
    }

    @Test func timesIsUsedUp() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.io), times: 2)
            let handle = try FileSystem(faults: plan).open(directory + "/segment", .createNew)
            defer { handle.close() }
            #expect(throws: SystemError.self) { try handle.write([1], at: 0) }
            #expect(throws: SystemError.self) { try handle.write([1], at: 0) }
            try handle.write([1], at: 0)
            try handle.write([2], at: 1)
            #expect(try handle.read(count: 10, at: 0) == [1, 2])
        }
    }

    @Test func theDefaultIsToFailOnce() {
        let plan = FaultPlan()
        plan.inject(.sync, fault: Fault(errno: Errno.io))
        #expect(plan.fault(for: .sync, path: "a") == Fault(errno: Errno.io))
        #expect(plan.fault(for: .sync, path: "a") == nil)
    }

    @Test func timesZeroNeverFires() {
        let plan = FaultPlan()
        plan.inject(.write, fault: Fault(errno: Errno.io), times: 0)
        #expect(plan.fault(for: .write, path: "a") == nil)
    }

    @Test func afterAndTimesCombine() {
        let plan = FaultPlan()
        plan.inject(.read, fault: Fault(errno: Errno.io), after: 1, times: 2)
        let answers = (0..<5).map { _ in plan.fault(for: .read, path: "a") != nil }
        #expect(answers == [false, true, true, false, false])
    }

    @Test func nilTimesFailsEveryTimeUntilClear() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, fault: Fault(errno: Errno.noSpace), times: nil)
            let handle = try FileSystem(faults: plan).open(directory + "/segment", .createNew)
            defer { handle.close() }
            for _ in 0..<5 {
                #expect(throws: SystemError.self) { try handle.write([1], at: 0) }
            }
            plan.clear()
            try handle.write([1], at: 0)
            #expect(try handle.size() == 1)
        }
    }

    @Test func clearRemovesEveryRule() {
        let plan = FaultPlan()
        for operation in FileOperation.allCases {
            plan.inject(operation, fault: Fault(errno: Errno.io), times: nil)
        }
        plan.clear()
        for operation in FileOperation.allCases {
            #expect(plan.fault(for: operation, path: "any") == nil)
        }
    }

    @Test func pathContainsLimitsTheRuleToMatchingPaths() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.write, pathContains: "shard-000000000001", fault: Fault(errno: Errno.noSpace), times: nil)
            let fileSystem = FileSystem(faults: plan)
            try fileSystem.createDirectory(directory + "/shard-000000000000")
            try fileSystem.createDirectory(directory + "/shard-000000000001")
            let healthy = try fileSystem.open(directory + "/shard-000000000000/00000001.seg", .createNew)
            defer { healthy.close() }
            let failing = try fileSystem.open(directory + "/shard-000000000001/00000001.seg", .createNew)
            defer { failing.close() }
            try healthy.write([1], at: 0)
            let error = try #require(throws: SystemError.self) { try failing.write([1], at: 0) }
            #expect(error.path == directory + "/shard-000000000001/00000001.seg")
            try healthy.write([2], at: 1)
            #expect(try healthy.size() == 2)
            #expect(try failing.size() == 0)
        }
    }

    @Test(arguments: FileOperation.allCases)
    func aRuleMatchesOnlyItsOwnOperation(operation: FileOperation) {
        let plan = FaultPlan()
        plan.inject(operation, fault: Fault(errno: Errno.io), times: nil)
        for other in FileOperation.allCases {
            let fault = plan.fault(for: other, path: "data/orders")
            #expect((fault != nil) == (other == operation), "\(other)")
        }
    }

    @Test func rulesAreMatchedInTheOrderTheyWereAdded() {
        let plan = FaultPlan()
        plan.inject(.write, fault: Fault(errno: Errno.noSpace))
        plan.inject(.write, fault: Fault(errno: Errno.io))
        #expect(plan.fault(for: .write, path: "a")?.errno == Errno.noSpace)
        #expect(plan.fault(for: .write, path: "a")?.errno == Errno.io)
        #expect(plan.fault(for: .write, path: "a") == nil)
    }

    @Test func aSkippingRuleLetsALaterRuleMatch() {
        let plan = FaultPlan()
        plan.inject(.write, fault: Fault(errno: Errno.noSpace), after: 1)
        plan.inject(.write, fault: Fault(errno: Errno.io))
        #expect(plan.fault(for: .write, path: "a")?.errno == Errno.io)
        #expect(plan.fault(for: .write, path: "a")?.errno == Errno.noSpace)
    }

    // MARK: - Other operations

    @Test func syncFaultMakesSynchronizeDataThrowIOError() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.sync, fault: Fault(errno: Errno.io))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            try handle.write([1], at: 0)
            let error = try #require(throws: SystemError.self) { try handle.synchronizeData() }
            #expect(error == SystemError(call: "fdatasync", errno: Errno.io, path: path))
            #expect(error.isStorageFailure)
            try handle.synchronizeData()
        }
    }

    @Test func syncFaultMakesSynchronizeThrowNamingFsync() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.sync, fault: Fault(errno: Errno.io))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            let error = try #require(throws: SystemError.self) { try handle.synchronize() }
            #expect(error == SystemError(call: "fsync", errno: Errno.io, path: path))
        }
    }

    @Test func openFaultThrowsAndCreatesNothing() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.open, fault: Fault(errno: Errno.accessDenied))
            let path = directory + "/segment"
            let fileSystem = FileSystem(faults: plan)
            let error = try #require(throws: SystemError.self) { try fileSystem.open(path, .createNew) }
            #expect(error == SystemError(call: "open", errno: Errno.accessDenied, path: path))
            #expect(!fileSystem.exists(path))
            let handle = try fileSystem.open(path, .createNew)
            handle.close()
            #expect(fileSystem.exists(path))
        }
    }

    @Test func readFaultMakesReadThrowNamingPread() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let path = directory + "/segment"
            let fileSystem = FileSystem(faults: plan)
            try fileSystem.writeAtomically([1, 2, 3], to: path)
            plan.inject(.read, fault: Fault(errno: Errno.io))
            let error = try #require(throws: SystemError.self) { try fileSystem.readFile(path) }
            #expect(error == SystemError(call: "pread", errno: Errno.io, path: path))
            #expect(try fileSystem.readFile(path) == [1, 2, 3])
        }
    }

    @Test func truncateFaultLeavesTheFileAlone() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.truncate, fault: Fault(errno: Errno.io))
            let path = directory + "/segment"
            let handle = try FileSystem(faults: plan).open(path, .createNew)
            defer { handle.close() }
            try handle.write([1, 2, 3], at: 0)
            let error = try #require(throws: SystemError.self) { try handle.truncate(to: 1) }
            #expect(error == SystemError(call: "ftruncate", errno: Errno.io, path: path))
            #expect(try handle.size() == 3)
        }
    }

    @Test func renameFaultLeavesBothFilesAlone() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let fileSystem = FileSystem(faults: plan)
            try fileSystem.writeAtomically([1], to: directory + "/from")
            try fileSystem.writeAtomically([2], to: directory + "/to")
            plan.inject(.rename, fault: Fault(errno: Errno.io))
            let error = try #require(throws: SystemError.self) {
                try fileSystem.rename(directory + "/from", to: directory + "/to")
            }
            #expect(error == SystemError(call: "rename", errno: Errno.io, path: directory + "/from"))
            #expect(try fileSystem.readFile(directory + "/from") == [1])
            #expect(try fileSystem.readFile(directory + "/to") == [2])
        }
    }

    @Test func createDirectoryFaultCreatesNothing() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.createDirectory, fault: Fault(errno: Errno.readOnlyFileSystem))
            let fileSystem = FileSystem(faults: plan)
            let path = directory + "/data"
            let error = try #require(throws: SystemError.self) { try fileSystem.createDirectory(path) }
            #expect(error == SystemError(call: "mkdir", errno: Errno.readOnlyFileSystem, path: path))
            #expect(!fileSystem.exists(path))
        }
    }

    @Test func removeFaultLeavesTheTreeAlone() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            plan.inject(.remove, fault: Fault(errno: Errno.io))
            let fileSystem = FileSystem(faults: plan)
            try fileSystem.createDirectory(directory + "/tree/inner")
            try fileSystem.writeAtomically([1], to: directory + "/tree/inner/file")
            let error = try #require(throws: SystemError.self) { try fileSystem.removeTree(directory + "/tree") }
            #expect(error.errno == Errno.io)
            #expect(try fileSystem.readFile(directory + "/tree/inner/file") == [1])
        }
    }

    // MARK: - writeAtomically under faults

    @Test func writeAtomicallyWithATornWriteKeepsTheOldContentAndNoTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let fileSystem = FileSystem(faults: plan)
            let path = directory + "/state.json"
            try fileSystem.writeAtomically(Array("old".utf8), to: path)
            plan.inject(.write, fault: Fault(errno: Errno.noSpace, bytesWritten: 2))
            let error = try #require(throws: SystemError.self) {
                try fileSystem.writeAtomically(Array("new content".utf8), to: path)
            }
            #expect(error.errno == Errno.noSpace)
            #expect(try fileSystem.readFile(path) == Array("old".utf8))
            #expect(try fileSystem.contentsOfDirectory(directory) == ["state.json"])
        }
    }

    @Test func writeAtomicallyWithAFailedSyncKeepsTheOldContentAndNoTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let fileSystem = FileSystem(faults: plan)
            let path = directory + "/state.json"
            try fileSystem.writeAtomically(Array("old".utf8), to: path)
            plan.inject(.sync, pathContains: ".tmp-", fault: Fault(errno: Errno.io))
            let error = try #require(throws: SystemError.self) {
                try fileSystem.writeAtomically(Array("new".utf8), to: path)
            }
            #expect(error.call == "fsync")
            #expect(try fileSystem.readFile(path) == Array("old".utf8))
            #expect(try fileSystem.contentsOfDirectory(directory) == ["state.json"])
        }
    }

    @Test func writeAtomicallyWithAFailedRenameKeepsTheOldContentAndNoTemporaryFile() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let fileSystem = FileSystem(faults: plan)
            let path = directory + "/state.json"
            try fileSystem.writeAtomically(Array("old".utf8), to: path)
            plan.inject(.rename, fault: Fault(errno: Errno.io))
            let error = try #require(throws: SystemError.self) {
                try fileSystem.writeAtomically(Array("new".utf8), to: path)
            }
            #expect(error.call == "rename")
            #expect(try fileSystem.readFile(path) == Array("old".utf8))
            #expect(try fileSystem.contentsOfDirectory(directory) == ["state.json"])
        }
    }

    @Test func writeAtomicallyWithAFailedDirectorySyncHasAlreadyReplacedTheFile() throws {
        try withTemporaryDirectory { directory in
            let plan = FaultPlan()
            let fileSystem = FileSystem(faults: plan)
            let path = directory + "/state.json"
            try fileSystem.writeAtomically(Array("old".utf8), to: path)
            plan.inject(.sync, fault: Fault(errno: Errno.io), after: 1)
            let error = try #require(throws: SystemError.self) {
                try fileSystem.writeAtomically(Array("new".utf8), to: path)
            }
            #expect(error == SystemError(call: "fsync", errno: Errno.io, path: directory))
            #expect(try fileSystem.readFile(path) == Array("new".utf8))
        }
    }
}

@Suite struct RandomFaultsTests {
    @Test func parsesRulesWithPathsErrnosAndProbabilities() throws {
        let faults = try RandomFaults.parse(" write@/archive/=ENOSPC:0.05; sync@=EIO:1 ;", seed: 1)
        #expect(faults.rules == [
            .init(operation: .write, pathContains: "/archive/", errno: Errno.noSpace, probability: 0.05),
            .init(operation: .sync, pathContains: "", errno: Errno.io, probability: 1),
        ])
    }

    @Test func badRulesNameTheRuleAndTheFix() {
        let cases: [(String, String)] = [
            ("write/archive=EIO:1", "is not operation@path=ERRNO:probability"),
            ("scribble@x=EIO:1", "names operation 'scribble'; use one of open, read, write"),
            ("write@x=EBADNESS:1", "names errno 'EBADNESS'; use one of EACCES, EDQUOT, EIO"),
            ("write@x=EIO:1.5", "needs a probability from 0 to 1"),
            ("write@x=EIO:", "needs a probability from 0 to 1"),
        ]
        for (text, problem) in cases {
            let error = #expect(throws: FaultRuleError.self) { try RandomFaults.parse(text, seed: 1) }
            #expect(error?.description.contains(problem) == true, "\(text): \(error.map { "\($0)" } ?? "no error")")
            #expect(error?.description.contains("for example write@/archive/=ENOSPC:0.05") == true)
        }
    }

    @Test func certainRulesAlwaysFireOnlyOnMatchingPathsAndOperations() throws {
        let faults = try RandomFaults.parse("rename@/archive/=EROFS:1", seed: 7)
        #expect(faults.fault(for: .rename, path: "/x/archive/a.gz") == Fault(errno: Errno.readOnlyFileSystem))
        #expect(faults.fault(for: .rename, path: "/x/data/a") == nil)
        #expect(faults.fault(for: .write, path: "/x/archive/a.gz") == nil)
    }

    @Test func probabilityIsRoughlyHonouredAndZeroNeverFires() throws {
        let faults = try RandomFaults.parse("write@=EIO:0.25;read@=EIO:0", seed: 42)
        var fired = 0
        for _ in 0..<4000 where faults.fault(for: .write, path: "/f") != nil { fired += 1 }
        #expect((800...1200).contains(fired), "fired \(fired) of 4000 at p = 0.25")
        for _ in 0..<1000 { #expect(faults.fault(for: .read, path: "/f") == nil) }
    }

    @Test func injectedFaultsReachRealFileOperations() throws {
        try withTemporaryDirectory { directory in
            let fileSystem = FileSystem(faults: try RandomFaults.parse("write@/faulty=ENOSPC:1", seed: 3))
            let good = try fileSystem.open(directory + "/fine", .createNew)
            defer { good.close() }
            try good.write(Array("ok".utf8), at: 0)
            let bad = try fileSystem.open(directory + "/faulty", .createNew)
            defer { bad.close() }
            let error = try #require(throws: SystemError.self) { try bad.write(Array("no".utf8), at: 0) }
            #expect(error.errno == Errno.noSpace)
        }
    }
}
