import Foundation
import SluiceSupport

/// Scratch directories for the targets that need a store on disk: one per use, under
/// `$TMPDIR` (fuzz.sh points it at a directory it removes afterwards, on tmpfs when there is one,
/// so fsync costs little).
enum FuzzScratch {
    /// A new, empty directory with a unique name.
    static func makeDirectory(_ label: String) throws(SystemError) -> String {
        let path = NSTemporaryDirectory() + "sluice-fuzz-\(label)-" + UUID().uuidString
        try FileSystem.live.createDirectory(path)
        return path
    }

    /// Removes a scratch directory; a failure to remove it only leaves litter in `$TMPDIR`.
    static func remove(_ path: String) {
        do throws(SystemError) {
            try FileSystem.live.removeTree(path)
        } catch {
            // Nothing depends on the directory being gone; fuzz.sh removes its TMPDIR anyway.
        }
    }
}
