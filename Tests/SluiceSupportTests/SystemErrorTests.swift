import Foundation
import SluiceSupport
import Testing

@Suite struct SystemErrorTests {
    @Test(arguments: [
        (ENOSPC, true), (EIO, true), (EDQUOT, true), (EROFS, true), (EFBIG, true),
        (EACCES, false), (EPERM, false), (ENOENT, false), (EEXIST, false), (EINTR, false), (EBADF, false),
    ])
    func isStorageFailureOnlyForDeviceAndSpaceErrors(errno: Int32, expected: Bool) {
        #expect(SystemError(call: "pwrite", errno: errno).isStorageFailure == expected)
    }

    @Test func remedyForNoSpaceAsksToFreeDiskSpace() {
        let remedy = SystemError(call: "pwrite", errno: Errno.noSpace).remedy
        #expect(remedy == "Free disk space on the volume that holds the data directory, then retry.")
        #expect(SystemError(call: "pwrite", errno: EDQUOT).remedy == remedy)
    }

    @Test func remedyForIOErrorPointsAtTheDisk() {
        let remedy = SystemError(call: "fsync", errno: Errno.io).remedy
        #expect(remedy == "The storage device reported an I/O error; check the disk (dmesg) before retrying.")
    }

    @Test(arguments: [
        (EACCES, "--data-dir"), (EPERM, "--data-dir"), (EROFS, "read-only"), (ENOENT, "exists"),
        (EMFILE, "ulimit -n"), (ENFILE, "ulimit -n"), (EXDEV, "Check the path"),
    ])
    func remedyNamesWhatTheOperatorCanDo(errno: Int32, fragment: String) {
        #expect(SystemError(call: "open", errno: errno).remedy.contains(fragment))
    }

    @Test(arguments: [
        (Errno.noSpace, ENOSPC), (Errno.io, EIO), (Errno.accessDenied, EACCES),
        (Errno.readOnlyFileSystem, EROFS), (Errno.noEntry, ENOENT), (Errno.exists, EEXIST),
    ])
    func errnoConstantsMatchTheCLibrary(constant: Int32, expected: Int32) {
        #expect(constant == expected)
    }

    @Test func reasonIsTheCLibraryText() {
        #expect(SystemError(call: "fsync", errno: EIO).reason == String(cString: strerror(EIO)))
    }

    @Test func errorsWithDifferentFieldsAreNotEqual() {
        let error = SystemError(call: "fsync", errno: EIO, path: "a")
        #expect(error == SystemError(call: "fsync", errno: EIO, path: "a"))
        #expect(error != SystemError(call: "fdatasync", errno: EIO, path: "a"))
        #expect(error != SystemError(call: "fsync", errno: ENOSPC, path: "a"))
        #expect(error != SystemError(call: "fsync", errno: EIO, path: nil))
    }

    // MARK: - Names and description

    @Test func descriptionNamesCallPathReasonAndErrno() {
        let error = SystemError(call: "fsync", errno: Errno.io, path: "data/orders/00000001.seg")
        #expect(error.description == "fsync 'data/orders/00000001.seg': Input/output error (EIO, errno 5)")
    }

    @Test func descriptionWithoutAPathOmitsIt() {
        let error = SystemError(call: "pwrite", errno: Errno.noSpace)
        #expect(error.description == "pwrite: No space left on device (ENOSPC, errno 28)")
    }

    @Test(arguments: [
        (ENOSPC, "ENOSPC"), (EIO, "EIO"), (EEXIST, "EEXIST"), (ENOENT, "ENOENT"), (EACCES, "EACCES"),
        (EROFS, "EROFS"), (EDQUOT, "EDQUOT"), (EXDEV, "EXDEV"), (4095, "errno 4095"), (-1, "errno -1"),
    ])
    func errnoNameIsSymbolicForCommonErrorsAndNumericOtherwise(errno: Int32, expected: String) {
        #expect(SystemError(call: "open", errno: errno).errnoName == expected)
    }

    // EAGAIN and EWOULDBLOCK are the same number on Linux; either name is right, but it must not trap.
    @Test func errnoNameOfWouldBlockIsOneOfItsNames() {
        #expect(["EAGAIN", "EWOULDBLOCK"].contains(SystemError(call: "flock", errno: EWOULDBLOCK).errnoName))
    }
}
